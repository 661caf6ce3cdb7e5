-- wrk script: a connection per request, the same request as proxy.lua without its header.
request = function()
  return "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
end
