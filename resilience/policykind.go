package resilience

import (
	"fmt"
	"strings"
)

// PolicyKind is a kind of policy that a kill switch turns off. Its zero
// value is no kind: a breaker (forced instead, see Breaker.Override) or a
// policy defined outside the package. As text (String, MarshalText) it is
// the name configuration files, URLs and stores use: "retry",
// "rate_limiter", …
type PolicyKind uint8

// The kinds of policy kill switches turn off, in the order of
// SwitchablePolicies.
const (
	PolicyRetry PolicyKind = iota + 1
	PolicyTimeout
	PolicyHedge
	PolicyRateLimiter
	PolicyAdaptiveLimit
	PolicyBulkhead
	PolicyFallback
)

// policyKindNames are the names of the kinds, by value.
var policyKindNames = [...]string{
	PolicyRetry:         "retry",
	PolicyTimeout:       "timeout",
	PolicyHedge:         "hedge",
	PolicyRateLimiter:   "rate_limiter",
	PolicyAdaptiveLimit: "adaptive_limit",
	PolicyBulkhead:      "bulkhead",
	PolicyFallback:      "fallback",
}

// SwitchablePolicies returns the kinds of policy that kill switches turn
// off, in the order of their values: "retry", "timeout", "hedge",
// "rate_limiter", "adaptive_limit", "bulkhead", "fallback". A breaker is
// forced instead (Breaker.Override).
func SwitchablePolicies() []PolicyKind {
	return []PolicyKind{PolicyRetry, PolicyTimeout, PolicyHedge, PolicyRateLimiter, PolicyAdaptiveLimit, PolicyBulkhead, PolicyFallback}
}

// Valid reports whether k is one of SwitchablePolicies.
func (k PolicyKind) Valid() bool { return k >= PolicyRetry && k <= PolicyFallback }

// String returns the kind's name ("retry", …), or "PolicyKind(n)" for a
// value that is not a kind.
func (k PolicyKind) String() string {
	if k.Valid() {
		return policyKindNames[k]
	}
	return fmt.Sprintf("PolicyKind(%d)", uint8(k))
}

// MarshalText returns the kind's name; a value that is not a kind is an
// error.
func (k PolicyKind) MarshalText() ([]byte, error) {
	if !k.Valid() {
		return nil, fmt.Errorf("resilience: cannot marshal %v: not a kind of policy kill switches turn off", k)
	}
	return []byte(policyKindNames[k]), nil
}

// UnmarshalText sets k to the kind named by text; see ParsePolicyKind.
func (k *PolicyKind) UnmarshalText(text []byte) error {
	v, err := ParsePolicyKind(string(text))
	if err != nil {
		return err
	}
	*k = v
	return nil
}

// ParsePolicyKind returns the kind of the given name ("retry", …). An
// unknown name is an error that names it and lists the valid ones.
func ParsePolicyKind(name string) (PolicyKind, error) {
	for k := PolicyRetry; k <= PolicyFallback; k++ {
		if policyKindNames[k] == name {
			return k, nil
		}
	}
	return 0, fmt.Errorf("resilience: policy %q is not a kind of policy kill switches turn off (want one of %s)", name, PolicyKindNames(SwitchablePolicies()))
}

// PolicyKindNames joins the names of kinds with ", ", as error messages and
// audit entries list them.
func PolicyKindNames(kinds []PolicyKind) string {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = k.String()
	}
	return strings.Join(names, ", ")
}

// KindOf returns the kind of pol, or zero for a breaker or a policy defined
// outside the package.
func KindOf(pol Policy) PolicyKind {
	switch pol.(type) {
	case *Retry:
		return PolicyRetry
	case *Timeout:
		return PolicyTimeout
	case *Hedge:
		return PolicyHedge
	case *RateLimiter:
		return PolicyRateLimiter
	case *AdaptiveLimit:
		return PolicyAdaptiveLimit
	case *Bulkhead:
		return PolicyBulkhead
	case *Fallback:
		return PolicyFallback
	}
	return 0
}
