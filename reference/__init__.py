"""Reference implementations of the ten exercises.

`reference.forward` holds every forward function exactly once, written with
`autograd.numpy` so that it can be differentiated; `reference.keys` derives every
answer key (derivatives, Jacobians, vector-Jacobian products, weight gradients)
from those forward functions with autograd. Nothing here is a hand-written
derivative.
"""
