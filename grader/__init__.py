"""activation-grader: grades NumPy notebooks on activation functions.

Data flows one way: submission -> execution (untrusted worker) -> probe results
(plain numbers) -> checks against autograd answer keys -> scores -> reports.
"""
__version__ = "0.1.0"
