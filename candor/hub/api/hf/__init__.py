"""The Hugging Face Hub protocol: the HTTP API the unmodified ``huggingface_hub`` client (and so
transformers, diffusers, sentence-transformers…) speaks when ``HF_ENDPOINT`` names a Candor server.

A router of its own beside API v1 (plain Django views: the protocol's answers are HEAD redirects, NDJSON
bodies, LFS and Xet transfers rather than one JSON shape). ``common`` is its gate: who is calling (a
Candor bearer token, never a cookie), the model asked for (through the one visibility helper), and the
protocol's error answers, which the client tells apart by their ``X-Error-Code`` header.
"""
