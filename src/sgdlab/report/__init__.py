"""``sgdlab report``: one self-contained HTML page answering every exercise. The sections'
numbers (:mod:`.sections`), their renderers and the whole page (:mod:`.render`), the page's
building blocks (:mod:`.page`), its words in English and Hebrew (:mod:`.text`), and building it
with a cache (:mod:`.build`)."""
