"""The personal-data export (clause C5; GDPR articles 15 and 20): everything the inventory ties to a person,
as one ZIP they can read and take elsewhere.

Nothing here names a model or a field: the rows come from :mod:`candor.privacy.subjects`, the fields and
how each appears from the inventory, so a newly declared personal field is exported with no code of its
own. The archive holds

- ``data/<category>.json``, one per data category (``contact.email``, ``content.model`` …): what the
  category is, each field with its purpose and retention, and one record per row with its values;
- ``files/…``, every file the person uploaded;
- ``README.json``, the format; ``index.html``, a summary to open in a browser.

The ZIP is written as the rows are read (querysets are iterated in chunks, files copied through a small
buffer), so neither the rows nor the files are ever held in memory at once. Nothing of it touches the disk
in clear: the ZIP is sealed under the account's data key as it is written into a staging file
(:mod:`candor.kernel.staging`), and the per-category pieces written on the way are sealed under keys that
live only in the building process's memory. The finished file is handed to the storage under a random
name.

One module per job:

- :mod:`.access`: asking for an export, the person's list, and the rule for downloading one;
- :mod:`.builder`: the background build (write, seal, store, tell);
- :mod:`.records` and :mod:`.files`: the data files and the uploaded files inside the ZIP;
- :mod:`.summary`: the categories, README.json and index.html;
- pure pieces, without I/O: :mod:`.zipwriter` (the ZIP's entries), :mod:`.paths` (names inside the
  archive), :mod:`.encoding` (values as JSON).
"""

from candor.lifecycle.export.access import (
    ArchivePieces,
    Download,
    archives_of,
    download,
    download_name,
    find_archive,
    latest_ready,
    open_archive,
    request_export,
)
from candor.lifecycle.export.builder import (
    build,
    build_export,
    remove_leftovers,
    seal_context,
    ttl,
    write_zip,
)
from candor.lifecycle.export.encoding import plain
from candor.lifecycle.export.summary import FORMAT, FORMAT_VERSION, Category, categories

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "ArchivePieces",
    "Category",
    "Download",
    "archives_of",
    "build",
    "build_export",
    "categories",
    "download",
    "download_name",
    "find_archive",
    "latest_ready",
    "open_archive",
    "plain",
    "remove_leftovers",
    "request_export",
    "seal_context",
    "ttl",
    "write_zip",
]
