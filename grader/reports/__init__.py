"""Layer 4, the reports: what is written from result records, never from a submission's files.

Per-submission results and feedback and the class table (``files``), the class report page
(``classreport/``) and the similarity of the code kept beside the results (``similarity/``).
"""
