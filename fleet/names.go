package fleet

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ErrInvalidName is wrapped by the errors about a service, pipeline or
// instance name that cannot be a subject token.
var ErrInvalidName = errors.New("fleet: invalid name")

// maxName is the longest service, pipeline or instance name.
const maxName = 64

// Names holds the subjects and JetStream names derived from a prefix. The
// zero value uses the prefix "fusebox".
type Names struct {
	// Prefix starts every subject; empty means "fusebox".
	Prefix string
}

func (n Names) prefix() string {
	if n.Prefix == "" {
		return "fusebox"
	}
	return n.Prefix
}

// Snapshot returns the subject an instance publishes its snapshots on.
func (n Names) Snapshot(service, instance string) string {
	return n.prefix() + ".snap." + service + "." + instance
}

// Snapshots returns the subject that matches every snapshot.
func (n Names) Snapshots() string { return n.prefix() + ".snap.*.*" }

// Events returns the subject an instance answers recent-events requests on.
func (n Names) Events(service, instance string) string {
	return n.prefix() + ".events." + service + "." + instance
}

// Audit returns the subject of the audit entries of a service.
func (n Names) Audit(service string) string { return n.prefix() + ".audit." + service }

// AuditSubjects returns the subjects of the audit stream.
func (n Names) AuditSubjects() string { return n.prefix() + ".audit.>" }

// AuditStream returns the name of the audit stream.
func (n Names) AuditStream() string { return strings.ToUpper(n.prefix()) + "_AUDIT" }

// Bucket returns the name of the overrides KV bucket.
func (n Names) Bucket() string { return n.prefix() + "_overrides" }

// validName checks one name; field names it in the error.
func validName(field, v string) error {
	if v == "" {
		return fmt.Errorf("%w: %s is empty", ErrInvalidName, field)
	}
	if len(v) > maxName {
		return fmt.Errorf("%w: %s %q is longer than %d characters", ErrInvalidName, field, v, maxName)
	}
	for i := 0; i < len(v); i++ {
		if !nameByte(v[i]) {
			return fmt.Errorf("%w: %s %q has %q at %d: use letters, digits, '-' and '_'", ErrInvalidName, field, v, v[i], i)
		}
	}
	return nil
}

// validPipeline checks a pipeline name: as the app's configuration allows,
// 1 to 64 letters, digits, '.', '_', ':' or '-'.
func validPipeline(v string) error {
	if v == "" || len(v) > maxName {
		return fmt.Errorf("%w: pipeline %q must be 1 to %d characters long", ErrInvalidName, v, maxName)
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; !nameByte(c) && c != '.' && c != ':' {
			return fmt.Errorf("%w: pipeline %q has %q at %d: use letters, digits, '.', '_', ':' and '-'", ErrInvalidName, v, c, i)
		}
	}
	return nil
}

// keyPipeline escapes a pipeline name for a KV key part: '.' separates
// the parts, so it becomes "=2E", and ':' (not allowed in keys) "=3A".
func keyPipeline(p string) string {
	return strings.NewReplacer(".", "=2E", ":", "=3A").Replace(p)
}

// unkeyPipeline reverses keyPipeline.
func unkeyPipeline(k string) string {
	return strings.NewReplacer("=2E", ".", "=3A", ":").Replace(k)
}

func nameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// DefaultInstance returns hostname-pid with every character that cannot be
// in a name replaced by '-', cut to 64 characters.
func DefaultInstance() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "instance"
	}
	v := []byte(host + "-" + strconv.Itoa(os.Getpid()))
	for i, c := range v {
		if !nameByte(c) {
			v[i] = '-'
		}
	}
	if len(v) > maxName {
		v = v[len(v)-maxName:]
	}
	return string(v)
}
