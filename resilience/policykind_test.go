package resilience_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/fusebox-dev/fusebox/resilience"
)

func TestPolicyKindTextRoundTrips(t *testing.T) {
	want := []string{"retry", "timeout", "hedge", "rate_limiter", "adaptive_limit", "bulkhead", "fallback"}
	kinds := resilience.SwitchablePolicies()
	if len(kinds) != len(want) {
		t.Fatalf("SwitchablePolicies() = %v, want %v", kinds, want)
	}
	for i, k := range kinds {
		if k.String() != want[i] {
			t.Errorf("kind %d String() = %q, want %q", i, k, want[i])
		}
		text, err := k.MarshalText()
		if err != nil || string(text) != want[i] {
			t.Errorf("%v.MarshalText() = %q, %v; want %q", k, text, err, want[i])
		}
		var back resilience.PolicyKind
		if err := back.UnmarshalText(text); err != nil || back != k {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %v", text, back, err, k)
		}
		if p, err := resilience.ParsePolicyKind(want[i]); err != nil || p != k {
			t.Errorf("ParsePolicyKind(%q) = %v, %v; want %v", want[i], p, err, k)
		}
	}
	// In JSON, as a value and as a map key, a kind is its name.
	b, err := json.Marshal(map[resilience.PolicyKind]resilience.KillSwitch{resilience.PolicyRateLimiter: {Policy: resilience.PolicyRateLimiter}})
	if err != nil || !strings.Contains(string(b), `{"rate_limiter":{"Policy":"rate_limiter",`) {
		t.Errorf("JSON = %s, %v; want the kind's name as key and value", b, err)
	}
}

func TestPolicyKindRejectsUnknownNames(t *testing.T) {
	for _, name := range []string{"", "breaker", "Retry", "retry "} {
		_, err := resilience.ParsePolicyKind(name)
		if err == nil {
			t.Errorf("ParsePolicyKind(%q) succeeded", name)
			continue
		}
		for _, part := range []string{`"` + name + `"`, "retry, timeout, hedge, rate_limiter, adaptive_limit, bulkhead, fallback"} {
			if !strings.Contains(err.Error(), part) {
				t.Errorf("ParsePolicyKind(%q) error %q does not hold %s", name, err, part)
			}
		}
		var k resilience.PolicyKind
		if err := json.Unmarshal([]byte(`"`+name+`"`), &k); err == nil || !strings.Contains(err.Error(), `"`+name+`"`) {
			t.Errorf("json.Unmarshal(%q) = %v, want an error naming it", name, err)
		}
	}
	for _, k := range []resilience.PolicyKind{0, 8, 255} {
		if k.Valid() {
			t.Errorf("%d.Valid() = true", k)
		}
		if _, err := k.MarshalText(); err == nil {
			t.Errorf("PolicyKind(%d).MarshalText() succeeded", k)
		}
		if k.String() == "" {
			t.Errorf("PolicyKind(%d).String() is empty", k)
		}
	}
}

func TestKindOf(t *testing.T) {
	retry := must[*resilience.Retry](t)(resilience.NewRetry(resilience.RetryConfig{MaxAttempts: 2}))
	br := must[*resilience.Breaker](t)(resilience.NewBreaker(resilience.BreakerConfig{}))
	if k := resilience.KindOf(retry); k != resilience.PolicyRetry {
		t.Errorf("KindOf(retry) = %v", k)
	}
	if k := resilience.KindOf(br); k != 0 {
		t.Errorf("KindOf(breaker) = %v, want zero", k)
	}
}
