# job 2 of 2: read what the previous submission left
import os
raise Exception(repr((os.getxattr("/tmp/victim/secret.txt", "user.left"), oct(os.stat("/tmp/victim/secret.txt").st_mode))))
