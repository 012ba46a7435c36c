package alerting_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/fusebox-dev/fusebox/alerting"
)

// A receiver checks that a notification comes from Fusebox and is not a
// replay: it verifies X-Fusebox-Signature against the shared secret, with a
// five-minute tolerance, then parses the Alertmanager-format body and
// deduplicates on fingerprint and status.
func ExampleVerifySignature() {
	const secret = "s3cret"
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "unreadable body", http.StatusBadRequest)
			return
		}
		if err := alerting.VerifySignature(secret, r.Header.Get(alerting.SignatureHeader), body, time.Now(), 5*time.Minute); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		p, err := alerting.ParseAlertmanagerPayload(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		for _, a := range p.Alerts {
			fmt.Println(a.Labels["alertname"], a.Status, "dedup key", a.Fingerprint+"/"+a.Status)
		}
	})

	body := `{"version":"4","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"ErrorBudgetBurn"},"startsAt":"2026-03-02T10:00:00Z","fingerprint":"0123456789abcdef"}]}`
	req := httptest.NewRequest(http.MethodPost, "/hook", strings.NewReader(body))
	req.Header.Set(alerting.SignatureHeader, alerting.Sign(secret, time.Now(), []byte(body)))
	handler.ServeHTTP(httptest.NewRecorder(), req)
	// Output: ErrorBudgetBurn firing dedup key 0123456789abcdef/firing
}
