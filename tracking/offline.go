package tracking

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"sort"
	"strings"
	"time"
)

// KeyedRequest is a request and its key: one recipient of one message.
// Requests with the same key are one sequence for bursts and repeats.
type KeyedRequest struct {
	Key     string
	Request Request
}

// ClassifyBatch classifies a set of requests offline exactly as the live
// handlers would have seen them: within each key, requests are ordered by
// time (ties keep input order) and each is classified with the ones before
// it as Earlier (any Earlier given is replaced). Results are in input order.
func (c *Classifier) ClassifyBatch(items []KeyedRequest) []Result {
	byKey := map[string][]int{}
	for i, it := range items {
		byKey[it.Key] = append(byKey[it.Key], i)
	}
	res := make([]Result, len(items))
	for _, idx := range byKey {
		sort.SliceStable(idx, func(a, b int) bool {
			return items[idx[a]].Request.Time.Before(items[idx[b]].Request.Time)
		})
		var earlier []Prior
		for _, i := range idx {
			r := items[i].Request
			r.Earlier = earlier
			res[i] = c.Classify(r)
			earlier = append(earlier[:len(earlier):len(earlier)], Prior{Time: r.Time, Method: r.Method, Target: r.Target})
		}
	}
	return res
}

// JSONRequest is one line of `sealgate tracking classify` input. Unknown
// fields are ignored (so labelled sets can carry their labels).
type JSONRequest struct {
	Key         string                     `json:"key"`
	Time        string                     `json:"time"`
	DeliveredAt string                     `json:"delivered_at"`
	Method      string                     `json:"method"`
	Target      string                     `json:"target"`
	UA          string                     `json:"ua"`
	IP          string                     `json:"ip"`
	Headers     map[string]json.RawMessage `json:"headers"`
}

// ParseJSONRequest decodes and checks one input line. Errors name the
// field, never echo values (they could be anything).
func ParseJSONRequest(line []byte) (KeyedRequest, error) {
	var j JSONRequest
	if err := json.Unmarshal(line, &j); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return KeyedRequest{}, fmt.Errorf("invalid JSON at byte %d", se.Offset)
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return KeyedRequest{}, fmt.Errorf("field %q has the wrong type", te.Field)
		}
		return KeyedRequest{}, errors.New("invalid JSON")
	}
	if j.Key == "" {
		return KeyedRequest{}, errors.New(`"key" is missing`)
	}
	var r Request
	var err error
	if r.Time, err = time.Parse(time.RFC3339Nano, j.Time); err != nil {
		return KeyedRequest{}, errors.New(`"time" is not an RFC 3339 time`)
	}
	if j.DeliveredAt != "" {
		if r.DeliveredAt, err = time.Parse(time.RFC3339Nano, j.DeliveredAt); err != nil {
			return KeyedRequest{}, errors.New(`"delivered_at" is not an RFC 3339 time`)
		}
	}
	switch m := strings.ToUpper(j.Method); m {
	case "":
		r.Method = http.MethodGet
	case http.MethodGet, http.MethodHead:
		r.Method = m
	default:
		return KeyedRequest{}, errors.New(`"method" must be GET or HEAD`)
	}
	if r.Target, err = ParseTarget(j.Target); err != nil {
		return KeyedRequest{}, errors.New(`"target" must be pixel, click:N (N ≥ 1) or honeypot`)
	}
	r.UserAgent = j.UA
	if j.IP != "" {
		a, err := netip.ParseAddr(j.IP)
		if err != nil {
			return KeyedRequest{}, errors.New(`"ip" is not an IP address`)
		}
		r.IP = a.Unmap()
	}
	if len(j.Headers) > 0 {
		r.Header = http.Header{}
		for k, raw := range j.Headers {
			var one string
			var many []string
			switch {
			case json.Unmarshal(raw, &one) == nil:
				r.Header.Add(k, one)
			case json.Unmarshal(raw, &many) == nil:
				for _, v := range many {
					r.Header.Add(k, v)
				}
			default:
				return KeyedRequest{}, errors.New(`"headers" values must be strings or arrays of strings`)
			}
		}
	}
	return KeyedRequest{Key: j.Key, Request: r}, nil
}
