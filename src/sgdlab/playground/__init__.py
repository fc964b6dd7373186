"""``sgdlab playground``: a live page on which every change of b, lr or momentum retrains the
chapter's classifier on the real data and redraws at once.

- :mod:`.schema`: a request body (``--config``-style keys) -> a checked ``TrainConfig``;
- :mod:`.runs`: the queue, the pool of training threads (``sgdlab.train`` itself), cancellation;
- :mod:`.views`: templates, confusion matrix and misclassified images of a model;
- :mod:`.presets`: the compare mode's preset runs;
- :mod:`.app`: the Starlette app (page, static files, JSON API, server-sent events);
- :mod:`.server`: loading the data, warming the engine, serving with uvicorn.

Importing this package imports no web framework (Starlette, uvicorn and plotly are the
``playground`` extra, imported by :mod:`.app` and :mod:`.server`).
"""
