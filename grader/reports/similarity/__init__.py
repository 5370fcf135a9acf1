"""Code similarity across a class: which pairs of submissions are worth a look, and why.

The package: :mod:`.normalise` (with :mod:`.canonical`), :mod:`.starter`, :mod:`.index`, :mod:`.failures`, :mod:`.store`, and
:mod:`.compute`, which puts them together.

For each exercise, each submission's own code (:mod:`.normalise`: the functions the contract
names, the helpers and globals they use, minus the starter code every student was given,
:mod:`.starter`) is cut into fingerprints and scored against every other submission's through an
inverted index (:mod:`.index`): a score in [0, 1] per pair and exercise, and over all
exercises, in which what any correct solution shares (fingerprints common in the class, or in
the reference solution) weighs little. The same rare failures in two submissions are a second
signal (:mod:`.failures`). :func:`.compute.write_similarity` reads only the output directory
(``code/`` and ``results/``, :mod:`.store`) and writes ``similarity.csv``: a row per pair and
exercise (or ``all``) whose score reaches :data:`.compute.THRESHOLD` or that share at least
:data:`.compute.MIN_SHARED_FAILURES` rare failures. Similarity is a reason to look, never a verdict.
"""
