package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/textproto"
	"sort"
	"strconv"
	"strings"

	"github.com/sealgate/sealgate/config"
	"github.com/sealgate/sealgate/policy"
	"github.com/sealgate/sealgate/policy/phi"
	"github.com/sealgate/sealgate/queue"
	"github.com/sealgate/sealgate/smtpd"
)

// inspector scans each message for PHI while it is being spooled, and turns
// the verdict into a protection decision per recipient, stored with the
// message (queue Meta, policy.MetaKey) before the envelope commits — so the
// 250 that follows already stands for a decided message.
type inspector struct {
	scanner *phi.Scanner
	engine  *policy.Engine
	log     *slog.Logger
}

func newInspector(cfg *config.Config, log *slog.Logger) (*inspector, error) {
	popts, err := cfg.PHI.Options(cfg.BaseDir)
	if err != nil {
		return nil, err
	}
	scanner, err := phi.New(popts)
	if err != nil {
		return nil, err
	}
	polOpts, err := cfg.Policy.Options()
	if err != nil {
		return nil, err
	}
	engine, err := policy.New(polOpts)
	if err != nil {
		return nil, err
	}
	return &inspector{scanner: scanner, engine: engine, log: log}, nil
}

// maxHeaderCapture bounds the header bytes kept for the policy (subject
// tags, encrypt headers, TLS-Required).
const maxHeaderCapture = 256 << 10

var errSpoolAborted = errors.New("spool aborted")

// spooler hands smtpd's accepted messages to the queue, inspecting them on
// the way when an inspector is configured.
type spooler struct {
	q       *queue.Queue
	inspect *inspector
}

func (s spooler) Spool(ctx context.Context, m smtpd.Message, body io.Reader) (string, error) {
	env := queue.Envelope{
		From: m.From, To: m.To, RequireTLS: m.RequireTLS, SMTPUTF8: m.SMTPUTF8,
		ClientAddr: m.ClientAddr, Helo: m.Helo, AuthUser: m.AuthUser, ReceivedAt: m.ReceivedAt,
	}
	if s.inspect == nil {
		return s.q.Enqueue(ctx, env, body)
	}
	// The scanner reads a copy of the stream as the queue spools it: one
	// pass over the data, bounded memory, no second read of the spool.
	pr, pw := io.Pipe()
	capture := &headerCapture{}
	type scanned struct {
		res *phi.Result
		err error
	}
	done := make(chan scanned, 1)
	go func() {
		res, err := s.inspect.scanner.Scan(io.TeeReader(pr, capture))
		io.Copy(io.Discard, pr) // the scanner may stop early; keep the tee flowing
		done <- scanned{res, err}
	}()
	var summary string
	finished := false
	env.Finish = func() (map[string]string, error) {
		finished = true
		pw.Close()
		sc := <-done
		if sc.err != nil {
			// Unread is unscannable: a nil scan is treated as PHI.
			s.inspect.log.Warn("phi scan failed; treating as unscannable", "err", sc.err)
			sc.res = nil
		}
		meta, sum, err := s.inspect.decide(m, capture.header(), sc.res)
		summary = sum
		return meta, err
	}
	id, err := s.q.Enqueue(ctx, env, io.TeeReader(body, pw))
	if !finished {
		pw.CloseWithError(errSpoolAborted)
		<-done
	}
	if err == nil {
		s.inspect.log.Info("policy decided", "id", id, "decisions", summary)
	}
	return id, err
}

// decide runs the policy for every recipient. One recipient whose decision
// is "reject" refuses the whole message (SMTP answers once per message),
// with a generic reply.
func (in *inspector) decide(m smtpd.Message, header map[string][]string, scan *phi.Result) (map[string]string, string, error) {
	msg := policy.NewMessage(m.From, header, scan, m.RequireTLS)
	decisions := make(map[string]policy.Decision, len(m.To))
	rules := map[string]int{}
	for _, rcpt := range m.To {
		d := in.engine.Decide(msg, rcpt)
		if d.Reject {
			return nil, "", &smtpd.Reject{Code: 550, Enhanced: [3]int{5, 7, 1}, Message: "Message refused by policy", Reason: "policy"}
		}
		decisions[rcpt] = d
		rules[d.Rule+"→"+string(d.Require)]++
	}
	enc, err := policy.EncodeDecisions(decisions)
	if err != nil {
		return nil, "", err
	}
	return map[string]string{policy.MetaKey: enc}, summarize(rules, scan), nil
}

// summarize is the log form of the decisions: rules, requirements, kinds
// and counts, never values.
func summarize(rules map[string]int, scan *phi.Result) string {
	var parts []string
	for r, n := range rules {
		parts = append(parts, r+"×"+strconv.Itoa(n))
	}
	sort.Strings(parts)
	if scan != nil {
		parts = append(parts, "phi="+strconv.FormatBool(scan.PHI), "kinds="+strings.Join(scan.Kinds, ","))
	} else {
		parts = append(parts, "phi=unscanned")
	}
	return strings.Join(parts, " ")
}

// headerCapture keeps the header section of the stream passing through it.
type headerCapture struct {
	buf  bytes.Buffer
	done bool
}

func (h *headerCapture) Write(p []byte) (int, error) {
	if h.done {
		return len(p), nil
	}
	h.buf.Write(p)
	if i := bytes.Index(h.buf.Bytes(), []byte("\r\n\r\n")); i >= 0 {
		h.buf.Truncate(i + 4)
		h.done = true
	} else if h.buf.Len() > maxHeaderCapture {
		h.buf.Truncate(maxHeaderCapture)
		h.done = true
	}
	return len(p), nil
}

func (h *headerCapture) header() map[string][]string {
	r := textproto.NewReader(bufio.NewReader(io.MultiReader(bytes.NewReader(h.buf.Bytes()), strings.NewReader("\r\n"))))
	hdr, _ := r.ReadMIMEHeader() // a damaged header yields what could be read
	return hdr
}
