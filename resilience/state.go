package resilience

import "fmt"

// State is the state of a circuit breaker.
type State uint8

// The breaker states. Closed, Open and HalfOpen belong to the automatic state
// machine; ForcedOpen and ForcedClosed are set by an operator and hold until
// the override is lifted or runs out.
const (
	StateClosed State = iota
	StateOpen
	StateHalfOpen
	StateForcedOpen
	StateForcedClosed
	// NumStates is the number of states, for arrays indexed by State.
	NumStates
)

var stateNames = [NumStates]string{"closed", "open", "half_open", "forced_open", "forced_closed"}

// String returns the state's snake_case name ("half_open").
func (s State) String() string { return enumString(s, stateNames[:]) }

// MarshalText implements encoding.TextMarshaler.
func (s State) MarshalText() ([]byte, error) { return enumText(s, stateNames[:]) }

// UnmarshalText implements encoding.TextUnmarshaler; see ParseState.
func (s *State) UnmarshalText(b []byte) error {
	v, err := ParseState(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Forced reports whether s is one of the manual states.
func (s State) Forced() bool { return s == StateForcedOpen || s == StateForcedClosed }

// ParseState returns the State named s ("closed", "open", "half_open",
// "forced_open", "forced_closed"). An unknown name is an error that quotes it.
func ParseState(s string) (State, error) {
	for i, n := range stateNames {
		if n == s {
			return State(i), nil
		}
	}
	return 0, fmt.Errorf("resilience: unknown breaker state %q (want one of closed, open, half_open, forced_open, forced_closed)", s)
}
