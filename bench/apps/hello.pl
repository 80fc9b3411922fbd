#!/usr/bin/perl
# Backend 4: the same hello-world under Perl's FCGI::ProcManager (Debian's libfcgi-procmanager-perl).
#
#   BENCH_WORKERS=2 perl bench/apps/hello.pl SOCKET
#   BENCH_CRASH_AT_START=1 ...   every worker exits with status 3 right after it starts
#
# Query: `pid` answers pid=<pid> with the header X-Pid: <pid>; `sleep=S` answers after S seconds (signals do not cut it short).
use strict;
use warnings;
use FCGI;
use FCGI::ProcManager;
use Time::HiRes ();

my $path = shift or die "usage: $0 SOCKET_PATH\n";
my $n = $ENV{BENCH_WORKERS} || 2;

# The manager opens the socket before forking, so it stays open while workers come and go.
my $socket = FCGI::OpenSocket($path, 511) or die "$0: cannot listen on $path\n";
chmod 0777, $path;
my $request = FCGI::Request(\*STDIN, \*STDOUT, \*STDERR, \%ENV, $socket);

my $pm = FCGI::ProcManager->new({ n_processes => $n });
$pm->pm_manage();

exit 3 if $ENV{BENCH_CRASH_AT_START};

while ($request->Accept() >= 0) {
  $pm->pm_pre_dispatch();
  my $query = $ENV{QUERY_STRING} // '';
  my $body = 'hello';
  my $head = '';
  if ($query ne '') {
    if ($query =~ /(?:^|&)sleep=([0-9.]+)/) {
      my $until = Time::HiRes::time() + $1;
      while ((my $left = $until - Time::HiRes::time()) > 0) { Time::HiRes::sleep($left) }
    }
    ($body, $head) = ("pid=$$\n", "X-Pid: $$\r\n") if $query =~ /(?:^|&)pid(?:=|&|$)/;
  }
  print "Content-Type: text/plain\r\n$head\r\n$body";
  $pm->pm_post_dispatch();
}
FCGI::CloseSocket($socket);
