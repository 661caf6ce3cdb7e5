-- wrk script: as proxy-v1.lua (run it with -t1), with the binary v2 header: PROXY, TCP
-- over IPv4, 192.0.2.1:40000 to 192.0.2.2:80.
local request_line = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
local signature = "\13\10\13\10\0\13\10QUIT\10"
local header = signature .. "\33\17\0\12" .. "\192\0\2\1" .. "\192\0\2\2" .. "\156\64" .. "\0\80"
local calls = 0
request = function()
  calls = calls + 1
  if calls == 1 then return request_line end
  return header .. request_line
end
