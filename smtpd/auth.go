package smtpd

import (
	"errors"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// dummyHash is compared against for unknown users, so that a wrong user name
// costs the same time as a wrong password and user names cannot be probed.
var dummyHash = []byte("$2a$10$gibvddhdoVXA9pZVBPxODOvIUz8VcIj51U43qzNMbqeo09peYRGci")

func checkPassword(users map[string][]byte, user, pass string) bool {
	hash, ok := users[user]
	if !ok {
		_ = bcrypt.CompareHashAndPassword(dummyHash, []byte(pass))
		return false
	}
	return bcrypt.CompareHashAndPassword(hash, []byte(pass)) == nil
}

// HashPassword returns the bcrypt hash stored in smtp.users[].password_hash.
func HashPassword(pass string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.DefaultCost)
	return string(h), err
}

// loginServer implements the widely deployed (if never standardised) AUTH
// LOGIN mechanism: two base64 prompts, user name then password.
type loginServer struct {
	check    func(identity, user, pass string) error
	user     string
	gotUser  bool
	finished bool
}

var errLoginSequence = errors.New("unexpected AUTH LOGIN response")

func (l *loginServer) Next(response []byte) (challenge []byte, done bool, err error) {
	switch {
	case l.finished:
		return nil, true, errLoginSequence
	case !l.gotUser && response == nil:
		return []byte("Username:"), false, nil
	case !l.gotUser:
		l.user, l.gotUser = strings.TrimSpace(string(response)), true
		return []byte("Password:"), false, nil
	default:
		l.finished = true
		return nil, true, l.check("", l.user, string(response))
	}
}
