"""Closed lists a model's metadata is chosen from."""

from __future__ import annotations

from django.db import models


class Visibility(models.TextChoices):
    PUBLIC = "public", "Public"
    UNLISTED = "unlisted", "Unlisted"
    PRIVATE = "private", "Private"


# SPDX identifiers (https://spdx.org/licenses/) of the licences models are commonly published under.
LICENSES = [
    ("Apache-2.0", "Apache License 2.0"),
    ("MIT", "MIT License"),
    ("BSD-2-Clause", "BSD 2-Clause License"),
    ("BSD-3-Clause", "BSD 3-Clause License"),
    ("GPL-3.0-only", "GNU General Public License v3.0 only"),
    ("LGPL-3.0-only", "GNU Lesser General Public License v3.0 only"),
    ("AGPL-3.0-only", "GNU Affero General Public License v3.0 only"),
    ("MPL-2.0", "Mozilla Public License 2.0"),
    ("CC-BY-4.0", "Creative Commons Attribution 4.0"),
    ("CC-BY-SA-4.0", "Creative Commons Attribution Share Alike 4.0"),
    ("CC-BY-NC-4.0", "Creative Commons Attribution Non Commercial 4.0"),
    ("CC0-1.0", "Creative Commons Zero v1.0 Universal"),
    ("Unlicense", "The Unlicense"),
    ("other", "Other (see the model card)"),
]

LIBRARIES = [
    ("pytorch", "PyTorch"),
    ("tensorflow", "TensorFlow"),
    ("jax", "JAX"),
    ("keras", "Keras"),
    ("transformers", "Transformers"),
    ("onnx", "ONNX"),
    ("safetensors", "safetensors"),
    ("gguf", "GGUF"),
    ("scikit-learn", "scikit-learn"),
    ("xgboost", "XGBoost"),
    ("lightgbm", "LightGBM"),
    ("other", "Other"),
]

TASKS = [
    ("text-classification", "Text classification"),
    ("token-classification", "Token classification"),
    ("question-answering", "Question answering"),
    ("summarization", "Summarization"),
    ("translation", "Translation"),
    ("text-generation", "Text generation"),
    ("fill-mask", "Fill mask"),
    ("sentence-similarity", "Sentence similarity"),
    ("feature-extraction", "Feature extraction"),
    ("image-classification", "Image classification"),
    ("object-detection", "Object detection"),
    ("image-segmentation", "Image segmentation"),
    ("text-to-image", "Text to image"),
    ("image-to-text", "Image to text"),
    ("automatic-speech-recognition", "Speech recognition"),
    ("text-to-speech", "Text to speech"),
    ("audio-classification", "Audio classification"),
    ("tabular-classification", "Tabular classification"),
    ("tabular-regression", "Tabular regression"),
    ("time-series-forecasting", "Time-series forecasting"),
    ("reinforcement-learning", "Reinforcement learning"),
    ("other", "Other"),
]
