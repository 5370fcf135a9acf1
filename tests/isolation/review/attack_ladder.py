# Outliving the job in `landlock` mode: end_descendants() kills one generation per round and
# gives up after 10000 rounds. A chain whose newest process always forks a successor grows at
# the bottom as fast as the cleanup eats it at the top, so it is still there when the rounds
# run out.
import os, time
script = r'''
my ($main) = @ARGV;
while (1) { my $p = fork(); next unless defined $p; last if $p; }
$0 = "ladder-survivor";
sleep 1000000;
'''
with open("ladder.pl", "w") as f:
    f.write(script)
main = os.getpid()
for i in range(1):
    if os.fork() == 0:
        os.setsid()
        os.execv("/usr/bin/perl", ["perl", os.path.abspath("ladder.pl"), str(main)])
time.sleep(1.0)
