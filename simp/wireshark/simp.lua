-- simp.lua: Wireshark / tshark dissector for SIMP (Simple IMC Messaging Protocol).
--
-- Decodes what simp/dissect.py decodes, in the same notation, so tshark and scapy agree field by
-- field (tests/test_wireshark.py checks that on one capture):
--   UDP 7777  daemon to daemon (simp/wire.py):    simp.type simp.op simp.op.{err,syn,ack,fin}
--             simp.seq simp.user simp.length simp.text
--   UDP 7778  client to daemon (simp/control.py): simp.ctl.kind simp.ctl.id and the kind's fields,
--             simp.ctl.<name> (a `str` field also has simp.ctl.<name>_len)
--             and, when the payload starts with a SIMPX/1 tag (docs/EXTENSION.md):
--             simp.simpx_chat_id simp.simpx_counter simp.simpx_text (chat datagrams)
--   both      simp.extra (bytes no field accounts for), simp.malformed (why; also an expert warning)
-- Info column: the ladder notation, e.g.  CHAT seq=1 alice "hi"   SYN+ACK seq=0 bob
--              CHAT seq=0 alice "hi" [4bce.1.0 #1]   (SIMPX/1: chat-id and message counter)
--              Reply id=3 ok=1 text=""   malformed (too short: 5 bytes, header needs 39)
-- Use:  tshark -X lua_script:simp.lua -r capture.pcap -Y simp
--   or  python -m simp.dissect --install-wireshark-plugin  (personal plugin folder; then no -X).
-- Ports are preferences (simp.daemon_port, simp.client_port): tshark -o simp.daemon_port:9000 ...
-- As root: Wireshark runs user Lua scripts for root only if init.lua says
-- run_user_scripts_when_superuser = true.  Debian's tshark 4.0.17 ships it true, so
-- `tshark -X lua_script:simp.lua` works as root there (tshark only warns "Running as user root").
-- Where it is false, run tshark as an ordinary user (capture with dumpcap, read the file).

local simp = Proto("simp", "SIMP (Simple IMC Messaging Protocol)")

local HEADER = 39          -- type(1) op(1) seq(1) user(32) length(4)
local USER_SIZE = 32
local TEXT_MAX = 40        -- longer text shows 37 characters and "..." (Datagram.describe)
local CONTROL, CHAT = 1, 2
local TYPE_NAMES = { [CONTROL] = "CONTROL", [CHAT] = "CHAT" }
local FLAGS = { "ERR", "SYN", "ACK", "FIN" }          -- bit 0 first
local ERR, MESSAGE = 0x01, 0x01
local CONTROL_OPS = { [0x01] = true, [0x02] = true, [0x04] = true, [0x08] = true, [0x06] = true }

-- Mirrors _REQUESTS and _EVENTS in simp/control.py; tests/test_wireshark.py compares the two.
-- letter = { class name, "field:type ..." }, fields in wire order after kind(1) and id(4).
local KINDS = {
    C = { "Connect", "user:str" },
    S = { "Start", "host:str port:u16" },
    W = { "Wait", "" },
    A = { "Accept", "" },
    D = { "Decline", "" },
    M = { "Say", "text:str" },
    Q = { "Quit", "" },
    X = { "Disconnect", "" },
    H = { "Heartbeat", "" },
    T = { "Status", "" },
    K = { "EventAck", "" },
    R = { "Reply", "ok:u8 text:str" },
    i = { "Invitation", "host:str port:u16 user:str" },
    c = { "ChatStarted", "host:str port:u16 user:str" },
    m = { "MessageReceived", "text:str" },
    d = { "MessageDelivered", "msg_id:u32" },
    e = { "PeerError", "host:str port:u16 text:str" },
    u = { "Undelivered", "msg_id:u32 text:str sent:u8" },
    x = { "ChatEnded", "host:str port:u16 user:str reason:u8 count:u16" },
}
-- Mirrors simp.events.EndReason.
local END_REASONS = {
    [1] = "QUIT", [2] = "PEER_LEFT", [3] = "NOT_ANSWERING", [4] = "NO_ANSWER",
    [5] = "DECLINED", [6] = "REFUSED", [7] = "SHUTDOWN", [8] = "WITHDRAWN",
    [9] = "WITHDRAWN_BY_US",
    [10] = "UNCLEAR",
}
local INT_SIZE = { u8 = 1, u16 = 2, u32 = 4 }
local INT_FIELD = { u8 = ProtoField.uint8, u16 = ProtoField.uint16, u32 = ProtoField.uint32 }

-- The table above, parsed once: SPECS[letter] = { name = "Connect", fields = { {name=, type=} } }.
local SPECS, KIND_VALUES = {}, {}
for letter, entry in pairs(KINDS) do
    local fields = {}
    for name, ftype in entry[2]:gmatch("([%w_]+):(%w+)") do
        fields[#fields + 1] = { name = name, type = ftype }
    end
    SPECS[letter] = { name = entry[1], fields = fields }
    KIND_VALUES[letter:byte()] = entry[1]
end

-- Fields ------------------------------------------------------------------------------------
local pf = {
    type = ProtoField.uint8("simp.type", "Type", base.HEX, TYPE_NAMES),
    op = ProtoField.uint8("simp.op", "Operation", base.HEX),
    seq = ProtoField.uint8("simp.seq", "Sequence", base.DEC),
    user = ProtoField.string("simp.user", "User"),
    length = ProtoField.uint32("simp.length", "Length", base.DEC),
    text = ProtoField.string("simp.text", "Text"),
    simpx_chat_id = ProtoField.string("simp.simpx_chat_id", "SIMPX/1 chat-id"),
    simpx_counter = ProtoField.uint32("simp.simpx_counter", "SIMPX/1 counter", base.DEC),
    simpx_text = ProtoField.string("simp.simpx_text", "SIMPX/1 text"),
    extra = ProtoField.bytes("simp.extra", "Bytes no field accounts for"),
    malformed = ProtoField.string("simp.malformed", "Malformed"),
    kind = ProtoField.uint8("simp.ctl.kind", "Kind", base.HEX, KIND_VALUES),
    id = ProtoField.uint32("simp.ctl.id", "Id", base.DEC),
}
local flag_fields = {}
for bit, name in ipairs(FLAGS) do
    flag_fields[bit] = ProtoField.bool("simp.op." .. name:lower(), name, 8, nil, 2 ^ (bit - 1))
end
local ctl = {}   -- ctl[name] and ctl[name .. "_len"]: one field per name across all kinds
for _, spec in pairs(SPECS) do
    for _, f in ipairs(spec.fields) do
        local abbr = "simp.ctl." .. f.name
        local label = (f.name:gsub("^%l", string.upper):gsub("_", " "))
        if ctl[f.name] == nil then
            if f.type == "str" then
                ctl[f.name] = ProtoField.string(abbr, label)
                ctl[f.name .. "_len"] = ProtoField.uint16(abbr .. "_len", label .. " length", base.DEC)
            elseif f.name == "reason" then
                ctl[f.name] = ProtoField.uint8(abbr, label, base.DEC, END_REASONS)
            else
                ctl[f.name] = INT_FIELD[f.type](abbr, label, base.DEC)
            end
        end
    end
end
local all_fields = {}
for _, group in ipairs({ pf, ctl }) do
    for _, field in pairs(group) do all_fields[#all_fields + 1] = field end
end
for _, field in ipairs(flag_fields) do all_fields[#all_fields + 1] = field end
simp.fields = all_fields

local malformed_expert = ProtoExpert.new("simp.malformed.expert", "Malformed SIMP datagram",
    expert.group.MALFORMED, expert.severity.WARN)
simp.experts = { malformed_expert }

simp.prefs.daemon_port = Pref.uint("Daemon port", 7777, "UDP port of daemon-to-daemon SIMP")
simp.prefs.client_port = Pref.uint("Client port", 7778, "UDP port of the client-daemon protocol")

-- Helpers on Lua strings (the datagram's bytes; index 1 is offset 0) -------------------------
local function uint(data, pos, size)
    local value = 0
    for i = pos, pos + size - 1 do value = value * 256 + data:byte(i) end
    return value
end

local function has_non_ascii(s) return s:find("[\128-\255]") ~= nil end

-- Python's repr of one byte as bytes, e.g. b'Z', b'\x00', b"'" (control.py's "unknown kind").
local function py_byte_repr(ch)
    local b = ch:byte()
    local named = { [9] = "\\t", [10] = "\\n", [13] = "\\r", [92] = "\\\\" }
    if b == 39 then return "b\"'\"" end
    if named[b] then return "b'" .. named[b] .. "'" end
    if b >= 32 and b < 127 then return "b'" .. ch .. "'" end
    return string.format("b'\\x%02x'", b)
end

-- Shown text: printable ASCII as is, anything else as \xNN (never an invalid UTF-8 string).
local function printable(s)
    return (s:gsub("[^\32-\126]", function(c) return string.format("\\x%02x", c:byte()) end))
end

local function quoted(text)
    if #text > TEXT_MAX then text = text:sub(1, TEXT_MAX - 3) .. "..." end
    return '"' .. text .. '"'
end

local function flag_names(op)
    local names = {}
    for bit, name in ipairs(FLAGS) do
        if bit32.band(op, 2 ^ (bit - 1)) ~= 0 then names[#names + 1] = name end
    end
    for bit = 4, 7 do
        if bit32.band(op, 2 ^ bit) ~= 0 then names[#names + 1] = string.format("0x%02x", 2 ^ bit) end
    end
    return table.concat(names, "+")
end

-- Daemon to daemon: the reasons of wire.decode(), checked in the same order ---------------------
local function datagram_reason(data)
    local n = #data
    if n < HEADER then return string.format("too short: %d bytes, header needs %d", n, HEADER) end
    local t, op, seq = data:byte(1, 3)
    if not TYPE_NAMES[t] then return string.format("unknown type 0x%02x", t) end
    if (t == CONTROL and not CONTROL_OPS[op]) or (t == CHAT and op ~= MESSAGE) then
        return string.format("operation 0x%02x is not valid for type %s", op, TYPE_NAMES[t])
    end
    if seq > 1 then return string.format("sequence %d is neither 0 nor 1", seq) end
    local length = uint(data, 36, 4)
    if length ~= n - HEADER then
        return string.format("length field says %d but %d bytes follow", length, n - HEADER)
    end
    local user = (data:sub(4, 3 + USER_SIZE):gsub("[\0 ]+$", ""))
    if user:find("\0", 1, true) then return "NUL byte inside the user name" end
    if has_non_ascii(user) then return "non-ASCII user" end
    if has_non_ascii(data:sub(HEADER + 1)) then return "non-ASCII payload" end
    return nil
end

-- SIMPX/1 (docs/EXTENSION.md, simp/extension.py): "SIMPX/1 " chat-id " " counter LF, then the text.
-- A chat-id is 1-32 of [0-9A-Za-z._-], or two of them joined by "+"; the counter is decimal,
-- without leading zeros, at most 4294967295.  Returns chat-id, counter, text; or nil.
local function simpx_tag(payload)
    local id, counter, text = payload:match("^SIMPX/1 ([^ \n]+) (%d+)\n(.*)$")
    if id == nil or #counter > 10 or (#counter > 1 and counter:sub(1, 1) == "0")
        or tonumber(counter) > 4294967295 then
        return nil
    end
    local parts = 0
    for part in (id .. "+"):gmatch("([^+]*)%+") do
        parts = parts + 1
        if #part < 1 or #part > 32 or part:find("[^0-9A-Za-z._%-]") then return nil end
    end
    if parts > 2 then return nil end
    return id, tonumber(counter), text
end

local function datagram_summary(data)
    local t, op, seq = data:byte(1, 3)
    local label = t == CHAT and "CHAT" or flag_names(op)
    local parts = { label .. " seq=" .. seq }
    local user = (data:sub(4, 3 + USER_SIZE):gsub("[\0 ]+$", ""))
    if user ~= "" then parts[#parts + 1] = user end
    local payload = data:sub(HEADER + 1)
    local chat_id, counter, text = simpx_tag(payload)
    if chat_id == nil then text = payload end
    if text ~= "" and (t == CHAT or op == ERR) then parts[#parts + 1] = quoted(text) end
    if chat_id ~= nil then parts[#parts + 1] = "[" .. chat_id .. " #" .. counter .. "]" end
    return table.concat(parts, " ")
end

-- Adds the fields that fit, as simp/dissect.py does; returns the offset after the last one.
local function datagram_tree(buf, data, tree)
    local n = #data
    if n < 1 then return 0 end
    local t = data:byte(1)
    tree:add(pf.type, buf(0, 1))
    if n < 2 then return 1 end
    local op = data:byte(2)
    local op_item = tree:add(pf.op, buf(1, 1))
    if t == CONTROL then
        for _, field in ipairs(flag_fields) do op_item:add(field, buf(1, 1)) end
        op_item:append_text(" (" .. flag_names(op) .. ")")
    elseif t == CHAT and op == MESSAGE then
        op_item:append_text(" (MESSAGE)")
    end
    if n < 3 then return 2 end
    tree:add(pf.seq, buf(2, 1))
    if n < 3 + USER_SIZE then return 3 end
    tree:add(pf.user, buf(3, USER_SIZE), printable((data:sub(4, 3 + USER_SIZE):gsub("[\0 ]+$", ""))))
    if n < HEADER then return 3 + USER_SIZE end
    local length = uint(data, 36, 4)
    tree:add(pf.length, buf(35, 4))
    local size = math.min(length, n - HEADER)
    tree:add(pf.text, buf(HEADER, size), printable(data:sub(HEADER + 1, HEADER + size)))
    local chat_id, counter, text = nil, nil, nil
    if datagram_reason(data) == nil then chat_id, counter, text = simpx_tag(data:sub(HEADER + 1)) end
    if chat_id ~= nil then  -- the tag's parts, each over its own bytes (the text field covers them all)
        local id_at = HEADER + #"SIMPX/1 "
        tree:add(pf.simpx_chat_id, buf(id_at, #chat_id), chat_id)
        tree:add(pf.simpx_counter, buf(id_at + #chat_id + 1, #tostring(counter)), counter)
        if t == CHAT and #text > 0 then
            tree:add(pf.simpx_text, buf(HEADER + size - #text, #text), printable(text))
        end
    end
    return HEADER + size
end

-- Client to daemon: the reasons of control.decode(), checked in the same order ------------------
local function control_reason(data)
    local n = #data
    if n < 5 then return string.format("too short: %d bytes", n) end
    local spec = SPECS[data:sub(1, 1)]
    if spec == nil then return "unknown kind " .. py_byte_repr(data:sub(1, 1)) end
    local pos, reason = 6, nil
    for _, f in ipairs(spec.fields) do
        if f.type == "str" then
            if pos + 1 > n then return spec.name .. " is cut short" end
            local size = uint(data, pos, 2)
            local raw = data:sub(pos + 2, pos + 1 + size)
            if #raw ~= size then return "field '" .. f.name .. "' is cut short" end
            if has_non_ascii(raw) then return spec.name .. " field '" .. f.name .. "' is not ASCII" end
            pos = pos + 2 + size
        else
            local size = INT_SIZE[f.type]
            if pos + size - 1 > n then return spec.name .. " is cut short" end
            if f.name == "reason" then reason = uint(data, pos, size) end
            pos = pos + size
        end
    end
    if pos - 1 ~= n then
        return string.format("%d unexpected trailing bytes after %s", n - pos + 1, spec.name)
    end
    if reason ~= nil and END_REASONS[reason] == nil then
        return string.format("unknown end reason %d", reason)
    end
    return nil
end

-- Walks a well-formed or cut message: calls visit(field, offset, size, value) per field that fits.
local function control_walk(data, visit)
    local n = #data
    if n < 1 then return 0 end
    if n < 5 then return 1 end
    local spec = SPECS[data:sub(1, 1)]
    if spec == nil then return 5 end
    local pos = 5   -- offset (0-based) of the next field
    for _, f in ipairs(spec.fields) do
        if f.type == "str" then
            if pos + 2 > n then return pos end
            local size = math.min(uint(data, pos + 1, 2), n - pos - 2)
            visit(f, pos, 2, uint(data, pos + 1, 2), true)
            visit(f, pos + 2, size, data:sub(pos + 3, pos + 2 + size), false)
            pos = pos + 2 + size
        else
            local size = INT_SIZE[f.type]
            if pos + size > n then return pos end
            visit(f, pos, size, uint(data, pos + 1, size), false)
            pos = pos + size
        end
    end
    return pos
end

local function control_summary(data)
    local spec = SPECS[data:sub(1, 1)]
    local parts = { spec.name, "id=" .. uint(data, 2, 4) }
    control_walk(data, function(f, _, _, value, is_length)
        if is_length then return end
        if f.type == "str" then value = quoted(value)
        elseif f.name == "reason" then value = END_REASONS[value] end
        parts[#parts + 1] = f.name .. "=" .. value
    end)
    return table.concat(parts, " ")
end

local function control_tree(buf, data, tree)
    local n = #data
    if n >= 1 then tree:add(pf.kind, buf(0, 1)) end
    if n >= 5 then tree:add(pf.id, buf(1, 4)) end
    return control_walk(data, function(f, offset, size, value, is_length)
        if is_length then
            tree:add(ctl[f.name .. "_len"], buf(offset, size))
        elseif f.type == "str" then
            tree:add(ctl[f.name], buf(offset, size), printable(value))
        else
            tree:add(ctl[f.name], buf(offset, size))
        end
    end)
end

-- The dissector ------------------------------------------------------------------------------
local SIDES = {
    daemon = { column = "SIMP", reason = datagram_reason, summary = datagram_summary, tree = datagram_tree },
    client = { column = "SIMP-CTL", reason = control_reason, summary = control_summary, tree = control_tree },
}

function simp.dissector(buf, pinfo, tree)
    local client_port = simp.prefs.client_port
    local side = (pinfo.src_port == client_port or pinfo.dst_port == client_port) and "client" or "daemon"
    local how = SIDES[side]
    local n = buf:len()
    local data = n > 0 and buf:raw(0, n) or ""
    local reason = how.reason(data)
    local info = reason and ("malformed (" .. reason .. ")") or how.summary(data)
    pinfo.cols.protocol:set(how.column)
    pinfo.cols.info:set(info)
    local sub = tree:add(simp, buf(), "SIMP" .. (side == "client" and " client-daemon" or "") .. ": " .. info)
    local used = how.tree(buf, data, sub)
    if used < n then sub:add(pf.extra, buf(used, n - used)) end
    if reason then
        sub:add(pf.malformed, buf(0, n), reason):set_generated()
        sub:add_proto_expert_info(malformed_expert, "Malformed SIMP: " .. reason)
    end
    return n
end

local registered = {}
local function register_ports()
    local udp = DissectorTable.get("udp.port")
    for _, port in ipairs(registered) do udp:remove(port, simp) end
    registered = { simp.prefs.daemon_port, simp.prefs.client_port }
    for _, port in ipairs(registered) do udp:add(port, simp) end
end
simp.prefs_changed = register_ports
register_ports()
