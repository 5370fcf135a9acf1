"""Layer 2, the rubric: what is asked and how an answer is scored, with no I/O at all.

Probes and plans (the calls each exercise makes), the criterion runner and its gates, the
shared criteria, the ten exercises (``exercises/``, one module each), scoring and the result
record. Given the plain values a submission returned, everything here is a pure function.
"""
