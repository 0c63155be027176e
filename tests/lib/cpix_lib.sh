# shellcheck shell=bash
# Shared part of the encryption tests (tests/integration/crypt_*.sh; sourced after
# mount_lib.sh, whose ok/not_ok it uses): CPIX documents made in the test, and the errno a
# path gives.
#   uuid                  a random UUID
#   b64 HEX               the bytes HEX in base64
#   cpix BODY...          a CPIX 2.3 document around the given elements (stdout)
#   key KID VALUE_BASE64  one ContentKey with its plain value
#   key_hex KID HEX       the same, the value given in hex
#   rule KID FILTER       a ContentKeyUsageRule with one empty filter (VideoFilter, ...)
#   errno PATH            OK when PATH opens for reading, else the errno's name (EACCES, ...)
#   expect WHAT ERRNO PATH  one TAP line: does PATH give ERRNO
# shellcheck disable=SC2034  # used by the tests
WV=edef8ba9-79d6-4ace-a3c8-27dcd51d21ed PR=9a04f079-9840-4286-ab92-e65be0885f95

uuid() { python3 -c 'import uuid; print(uuid.uuid4())'; }
b64() {
    python3 -c 'import base64, sys; print(base64.b64encode(bytes.fromhex(sys.argv[1])).decode())' "$1"
}
cpix() {
    printf '<?xml version="1.0" encoding="UTF-8"?>\n'
    printf '<cpix:CPIX xmlns:cpix="urn:dashif:org:cpix" '
    printf 'xmlns:pskc="urn:ietf:params:xml:ns:keyprov:pskc" contentId="test" version="2.3">\n'
    printf '%s\n' "$@"
    printf '</cpix:CPIX>\n'
}
key() {
    printf '<cpix:ContentKey kid="%s"><cpix:Data><pskc:Secret><pskc:PlainValue>%s' "$1" "$2"
    printf '</pskc:PlainValue></pskc:Secret></cpix:Data></cpix:ContentKey>'
}
key_hex() { key "$1" "$(b64 "$2")"; }
rule() {
    printf '<cpix:ContentKeyUsageRule kid="%s"><cpix:%s/></cpix:ContentKeyUsageRule>' "$1" "$2"
}
errno() {
    python3 - "$1" <<'EOF'
import errno, os, sys
try:
    os.close(os.open(sys.argv[1], os.O_RDONLY))
    print("OK")
except OSError as e:
    print(errno.errorcode.get(e.errno, e.errno))
except ValueError:
    print("ValueError")     # a NUL in the name: refused before any system call
EOF
}
expect() {
    local got
    got=$(errno "$3")
    if [ "$got" = "$2" ]; then ok "$1: $2"; else not_ok "$1: $got, not $2 ($3)"; fi
}
