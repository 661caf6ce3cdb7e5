-- wrk script: a connection per request, each opened by a PROXY protocol header (the
-- request says `Connection: close`, so every request comes on a new connection, whose
-- first bytes are the header). `-- v1` sends the text header, `-- v2` the binary one
-- (PROXY, TCP over IPv4, 192.0.2.1:40000 to 192.0.2.2:80). Run it with -t1: wrk checks
-- the first request() of thread 1 with its HTTP parser, which refuses the header, and
-- never sends that one.
local request_line = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
local headers = {
  v1 = "PROXY TCP4 192.0.2.1 192.0.2.2 40000 80\r\n",
  v2 = "\13\10\13\10\0\13\10QUIT\10" .. "\33\17\0\12" .. "\192\0\2\1" .. "\192\0\2\2"
    .. "\156\64" .. "\0\80",
}
local header
local calls = 0

init = function(args)
  header = headers[args[1]] or error("say -- v1 or -- v2")
end

request = function()
  calls = calls + 1
  if calls == 1 then return request_line end
  return header .. request_line
end
