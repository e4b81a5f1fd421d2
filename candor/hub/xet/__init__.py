"""The Xet upload path of the Hugging Face protocol: the objects' formats (``format``), the short-lived
access tokens of the content-addressed store (``tokens``), and what is done with what arrives
(``store``: xorbs kept as sealed blobs of their owner, files rebuilt from them when a shard names them).
"""
