"""The worker program: the untrusted side, shipped as one script (never imported by a job).

Its parts are joined in the order of :data:`grader.sandbox.process.SHIPPED`; each imports only
the parts before it, on lines marked ``# shipped-with-wire`` that are dropped from the script.
"""
