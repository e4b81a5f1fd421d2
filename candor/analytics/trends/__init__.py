"""The public trends report (clause C8): aggregates only, small cells suppressed, optional DP noise.

What it shows, for a range of closed or current UTC days, by day, week (Monday to Sunday) or month:

- visits: requests by people (pages and API reads) per period, from the daily route counters. Requests
  from known bots are left out of every figure and given apart as one total;
- unique visitors: per period, the sum of the daily site-wide estimates. A visitor's hash is salted
  with a key that changes every day, so someone who comes back on another day counts again;
- shares of browser families and languages, the top referring sites, and the top public models (views
  and downloads together).

**Suppression.** No released figure counts fewer than k (``settings.TRENDS_MIN_COUNT``, read by
:func:`candor.analytics.suppression.min_count`). A period under
k is withheld; in a table, entries under k (and those past the top rows) are merged into "Other". Two
more rules keep a withheld figure from being worked out by subtraction, since the browser and language
tables each add up to the visits: if "Other" comes to fewer than k, the smallest listed entries join it
until it reaches k (and it is withheld if it never does); if the withheld periods of a series together
count fewer than k, the smallest shown period is withheld too. Suppression alone does not stop someone
from subtracting two reports whose ranges differ by one day; that is what the noise is for.

**Differential privacy** (``settings.TRENDS_DP_EPSILON`` > 0). Every count gets noise from OpenDP's
discrete Laplace mechanism before suppression, which then works on the noisy figures. One request adds
one to at most one cell of each of the six tables (visits, visitors, browsers, languages, referrers,
models), and cells within a table are disjoint, so each table gets ε/6 with sensitivity 1 and the
release spends ε by sequential composition. This protects one request (event-level privacy), not a
person, who may make many. Two limits, stated rather than hidden: the daily visitor figures are
HyperLogLog estimates, which follow a change of one visitor only approximately; and the browser,
language and referrer labels come from the data (a label appears only when its noisy count reaches k),
which makes those tables (ε, δ)-private with a small δ, while the model table draws noise for every
public model, counted or not.

A DP release is computed once, stored in the ledger (:class:`TrendsRelease`) and served as stored ever
after, so asking again spends nothing and cannot average the noise away; it covers closed days only,
since a day still being counted would change. With ``settings.TRENDS_DP_BUDGET`` set, the ledger's total
may not pass it: once a new release would, only the ranges released before are served. Without DP,
nothing is recorded and reports are computed on request, kept a minute in the cache.

Every read of model counts is joined with the public models of the moment
(:func:`candor.hub.visibility.listed_models`); a stored release keeps model ids, not names, and names
them through the same helper when it is shown, so a model made private or deleted leaves it at once.
Reads use the coarsest rows that cover the range (month rows for the whole months inside it, day rows
at the edges), never the hourly ones.

One module per job: :mod:`.ranges` (what a query may cover, and its periods), :mod:`.counts` (the
queries), :mod:`.release` (noise, then suppression, as stored), :mod:`.ledger` (stored releases and the
budget) and :mod:`.report` (what is published, and the charts). The policy itself is in
:mod:`candor.analytics.suppression` (k and its rules) and :mod:`candor.analytics.noise` (OpenDP).
"""
