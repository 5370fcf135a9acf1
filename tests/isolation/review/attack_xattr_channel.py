# job 1 of 2 (`landlock` mode): leave a message for the next submission in metadata that Landlock
# does not guard (user xattr and mode bits of a file the grader owns)
import os
os.setxattr("/tmp/victim/secret.txt", "user.left", b"from-the-previous-submission")
os.chmod("/tmp/victim/secret.txt", 0o640)
