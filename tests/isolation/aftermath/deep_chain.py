# A directory chain DEPTH levels deep (mkdir + chdir in a loop), left for the cleanup: once
# one descriptor per level ran out of descriptors (EMFILE at 1,024) and recursion overflowed
# the stack, and every later submission on the worker was an error.
# %%
import os

for i in range(DEPTH):
    try:
        os.mkdir("d")
        os.chdir("d")
    except OSError:  # a size-limited filesystem ran out of inodes: as deep as it goes
        break
    if i % 500 == 0:
        with open("f", "w") as f:
            f.write("x" * 100)
os.mkdir("locked", 0o000)  # and one directory it cannot read
