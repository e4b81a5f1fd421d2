"""The communications pages: a person's emails and preferences, the unsubscribe address, notices, and
the public blog. The staff pages that write posts and updates are the staff console's
(candor.staff.views)."""
