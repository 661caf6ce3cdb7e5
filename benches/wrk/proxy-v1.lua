-- wrk script: a connection per request, each opened by a PROXY protocol v1 header (the
-- request says `Connection: close`, so every request comes on a new connection, whose
-- first bytes are the header). Run it with -t1: wrk checks the first request() of
-- thread 1 with its HTTP parser, which refuses the header, and never sends that one.
local request_line = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
local header = "PROXY TCP4 192.0.2.1 192.0.2.2 40000 80\r\n"
local calls = 0
request = function()
  calls = calls + 1
  if calls == 1 then return request_line end
  return header .. request_line
end
