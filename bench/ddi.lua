-- wrk script of the DDI poll figure (bench/run.sh, figure 9): every request is the poll of
-- the next device of DDI_TOKENS ("identifier deviceSecret" lines, ota-bench ddi-tokens) with
-- its own TargetToken, each wrk thread starting at its own place in the list. With DDI_PATH
-- set every request asks for that path instead, with the same header (the nginx floor).
local ids, toks, n = {}, {}, 0
for line in io.lines(os.getenv("DDI_TOKENS")) do
  local id, tok = line:match("^(%S+) (%S+)$")
  if id then
    n = n + 1
    ids[n], toks[n] = id, tok
  end
end
local pk, fixed = os.getenv("DDI_PK"), os.getenv("DDI_PATH")
if fixed == "" then
  fixed = nil
end
local i = 0

function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)"), 16))
  i = math.random(n)
end

function request()
  i = i % n + 1
  local path = fixed or ("/" .. pk .. "/controller/v1/" .. ids[i])
  return wrk.format("GET", path, { ["Authorization"] = "TargetToken " .. toks[i] })
end
