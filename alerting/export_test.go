package alerting

// The helpers of the tests of package alerting_test, which use the real
// store (store imports alerting, so those tests cannot be in package
// alerting).
var (
	SLOStart          = sloStart
	RowLabels         = rowLabels
	FindAlert         = findAlert
	FastNotifier      = fastNotifier
	DeliverAll        = deliverAll
	NewReceiverServer = newReceiverServer
)

// SetFailN makes the server answer 503 to requests until it has had n
// in all: 0 lets every later request through.
func (rs *receiverServer) SetFailN(n int) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.failN = n
}

// Accepted returns how many times the server answered 2xx to a payload
// giving key ("fingerprint/status").
func (rs *receiverServer) Accepted(key string) int {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.accepted[key]
}
