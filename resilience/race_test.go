//go:build race

package resilience_test

// raceEnabled is set when the tests run with the race detector, under
// which sync.Pool drops some of what it is given, on purpose.
const raceEnabled = true
