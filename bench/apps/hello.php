<?php
// Backend 5: the same hello-world under PHP-FPM (pm = static).
// Query: `pid` answers pid=<pid> with the header X-Pid: <pid>; `sleep=S` answers after S seconds.
header('Content-Type: text/plain');
if (isset($_GET['pid'])) header('X-Pid: ' . getmypid());
if (isset($_GET['sleep'])) usleep((int) ((float) $_GET['sleep'] * 1000000));
echo isset($_GET['pid']) ? 'pid=' . getmypid() . "\n" : 'hello';
