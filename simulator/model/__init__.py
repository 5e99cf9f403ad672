"""The discrete-event model of the load balancer, servers and store (and the exact vector
engine). Its hot path may be compiled (``make native``): :mod:`simulator.model.native`
refuses a compiled module whose source changed since it was built."""

from simulator.model.native import check as _check_native_build

_check_native_build()
