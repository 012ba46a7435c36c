package alerting

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SignatureHeader is the request header that carries the signature of a
// webhook body when its receiver has a secret.
const SignatureHeader = "X-Fusebox-Signature"

// Errors of VerifySignature.
var (
	// ErrSignatureMalformed: the header is not "t=<unix>,v1=<hex>".
	ErrSignatureMalformed = errors.New("alerting: malformed webhook signature header")
	// ErrSignatureExpired: the timestamp is further from now than the
	// tolerance (a replay, or a clock far off).
	ErrSignatureExpired = errors.New("alerting: webhook signature timestamp outside the tolerance")
	// ErrSignatureMismatch: no v1 signature matches the body and secret.
	ErrSignatureMismatch = errors.New("alerting: webhook signature does not match")
)

// Sign returns the value of SignatureHeader for body sent at t with
// secret: "t=<unix seconds>,v1=<hex HMAC-SHA256 of "<unix seconds>.<body>">".
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(webhookMAC(secret, ts, body))
}

func webhookMAC(secret, ts string, body []byte) []byte {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(ts))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// VerifySignature checks the SignatureHeader value header of body against
// secret, for receivers: the timestamp must be within tolerance of now
// (either side) and one of the v1 signatures (several are allowed, to
// rotate secrets) must be the HMAC of "<timestamp>.<body>", compared in
// constant time. It returns nil, or an error matching ErrSignatureMalformed,
// ErrSignatureExpired or ErrSignatureMismatch. A tolerance of zero or less
// skips the timestamp check (replays are then accepted).
func VerifySignature(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts string
	var sigs [][]byte
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return fmt.Errorf("%w: element %q has no '='", ErrSignatureMalformed, clipText(part, 32))
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			b, err := hex.DecodeString(v)
			if err != nil || len(b) != sha256.Size {
				return fmt.Errorf("%w: v1 is not %d hex bytes", ErrSignatureMalformed, sha256.Size)
			}
			sigs = append(sigs, b)
		}
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: t=%q is not a Unix time", ErrSignatureMalformed, clipText(ts, 32))
	}
	if len(sigs) == 0 {
		return fmt.Errorf("%w: no v1 signature", ErrSignatureMalformed)
	}
	if tolerance > 0 {
		if d := now.Sub(time.Unix(unix, 0)); d > tolerance || d < -tolerance {
			return fmt.Errorf("%w: signed %v ago, tolerance %v", ErrSignatureExpired, d.Round(time.Second), tolerance)
		}
	}
	want := webhookMAC(secret, ts, body)
	for _, s := range sigs {
		if hmac.Equal(s, want) {
			return nil
		}
	}
	return ErrSignatureMismatch
}
