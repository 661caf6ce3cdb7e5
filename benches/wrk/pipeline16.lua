-- wrk script: 16 pipelined GET / per write (wrk counts each response).
init = function(args)
  local batch = {}
  for i = 1, 16 do
    batch[i] = wrk.format(nil, "/")
  end
  req = table.concat(batch)
end

request = function()
  return req
end
