package events

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// HandlerOptions configures ReportHandler.
type HandlerOptions struct {
	// AdminToken is the bearer token every request must present
	// ("Authorization: Bearer <token>"). Empty refuses every request.
	AdminToken string
	// AllowQueryToken also accepts ?token=<token> on the HTML report page
	// (GET /reports/campaigns/{id}) only, so that a plain browser (or
	// headless Chromium) can open it. Off by default: a token in a URL ends
	// up in browser history and proxy logs. The page is served with
	// Referrer-Policy: no-referrer and Cache-Control: no-store either way,
	// and never for the JSON API.
	AllowQueryToken bool
	// Logger defaults to discarding.
	Logger *slog.Logger
}

// ReportHandler serves the admin report API and page:
//
//	GET  /api/reports/campaigns              campaign list    ?from=&to= (RFC 3339)
//	GET  /api/reports/campaigns/{id}         campaign report  ?from=&to=&bucket=hour|day
//	GET  /api/reports/senders/{addr}         sender report    ?from=&to=&bucket=hour|day
//	GET  /api/messages/{id}/events           one message's events ?recipient=
//	GET  /api/webhooks                       outbox counts per subscriber
//	POST /api/webhooks/replay                ?dead=1&since=&until=&subscriber=
//	GET  /reports/campaigns/{id}             HTML report with inline SVG charts
//
// Every route requires the admin bearer token (401 otherwise).
func ReportHandler(s *Store, opts HandlerOptions) http.Handler {
	h := &api{s: s, log: opts.Logger, allowQuery: opts.AllowQueryToken, page: parsePage()}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if opts.AdminToken != "" {
		sum := sha256.Sum256([]byte(opts.AdminToken))
		h.token = sum[:]
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/reports/campaigns", h.auth(false, h.listCampaigns))
	mux.HandleFunc("GET /api/reports/campaigns/{id}", h.auth(false, h.campaign))
	mux.HandleFunc("GET /api/reports/senders/{addr}", h.auth(false, h.sender))
	mux.HandleFunc("GET /api/messages/{id}/events", h.auth(false, h.messageEvents))
	mux.HandleFunc("GET /api/webhooks", h.auth(false, h.outbox))
	mux.HandleFunc("POST /api/webhooks/replay", h.auth(false, h.replay))
	mux.HandleFunc("GET /reports/campaigns/{id}", h.auth(true, h.campaignPage))
	return mux
}

type api struct {
	s          *Store
	log        *slog.Logger
	token      []byte // SHA-256 of the admin token; nil refuses all
	allowQuery bool
	page       *template.Template
}

// auth checks the bearer token in constant time (hashes compared, so the
// token's length does not leak either).
func (h *api) auth(page bool, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		presented, ok := bearer(r.Header.Get("Authorization"))
		if !ok && page && h.allowQuery {
			presented, ok = r.URL.Query().Get("token"), true
		}
		if !ok || presented == "" || h.token == nil {
			h.unauthorized(w)
			return
		}
		sum := sha256.Sum256([]byte(presented))
		if subtle.ConstantTimeCompare(sum[:], h.token) != 1 {
			h.unauthorized(w)
			return
		}
		next(w, r)
	}
}

// bearer extracts the token of an "Authorization: Bearer <token>" header
// (the scheme is case-insensitive, RFC 6750 §2.1 with RFC 7235 §2.1).
func bearer(h string) (string, bool) {
	if len(h) < 7 || !strings.EqualFold(h[:7], "Bearer ") {
		return "", false
	}
	return strings.TrimSpace(h[7:]), true
}

func (h *api) unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="sealgate"`)
	writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "unauthorized"})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func badRequest(w http.ResponseWriter, msg string) {
	writeJSON(w, http.StatusBadRequest, map[string]string{"error": msg})
}

// parseQuery reads from, to (RFC 3339) and bucket.
func parseQuery(r *http.Request) (Query, error) {
	var q Query
	v := r.URL.Query()
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{"from", &q.From}, {"to", &q.To}} {
		if s := v.Get(f.name); s != "" {
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return q, errors.New(f.name + " must be an RFC 3339 time")
			}
			*f.dst = t
		}
	}
	q.Bucket = Bucket(v.Get("bucket"))
	if err := q.validate(); err != nil {
		return q, errors.New(queryMessage(err))
	}
	return q, nil
}

func (h *api) listCampaigns(w http.ResponseWriter, r *http.Request) {
	q, err := parseQuery(r)
	if err != nil {
		badRequest(w, err.Error())
		return
	}
	list, err := h.s.Campaigns(q)
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"campaigns": list})
}

func (h *api) campaign(w http.ResponseWriter, r *http.Request) {
	h.serveReport(w, r, h.s.CampaignReport, r.PathValue("id"))
}

func (h *api) sender(w http.ResponseWriter, r *http.Request) {
	h.serveReport(w, r, h.s.SenderReport, r.PathValue("addr"))
}

func (h *api) serveReport(w http.ResponseWriter, r *http.Request, fn func(string, Query) (*Report, error), id string) {
	q, err := parseQuery(r)
	if err != nil {
		badRequest(w, err.Error())
		return
	}
	rep, err := fn(id, q)
	if errors.Is(err, ErrBadQuery) {
		badRequest(w, queryMessage(err))
		return
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

func (h *api) messageEvents(w http.ResponseWriter, r *http.Request) {
	evs, err := h.s.MessageEvents(r.PathValue("id"), r.URL.Query().Get("recipient"))
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": evs})
}

func (h *api) outbox(w http.ResponseWriter, r *http.Request) {
	st, err := h.s.OutboxStats()
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"subscribers": st})
}

func (h *api) replay(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	f := ReplayFilter{Dead: v.Get("dead") == "1" || v.Get("dead") == "true", Subscriber: v.Get("subscriber")}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if s := v.Get(p.name); s != "" {
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				badRequest(w, p.name+" must be an RFC 3339 time")
				return
			}
			*p.dst = t
		}
	}
	if !f.Dead && f.Since.IsZero() {
		badRequest(w, "a replay without dead=1 needs since")
		return
	}
	n, err := h.s.Replay(r.Context(), f)
	if err != nil {
		if errors.Is(err, ErrNoSubscribers) {
			badRequest(w, "no matching webhook subscriber")
			return
		}
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"requeued": n})
}

// queryMessage is the client-facing text of an ErrBadQuery.
func queryMessage(err error) string {
	return strings.TrimPrefix(err.Error(), ErrBadQuery.Error()+": ")
}

func (h *api) fail(w http.ResponseWriter, err error) {
	h.log.Error("report API failed", "err", err)
	writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal error"})
}
