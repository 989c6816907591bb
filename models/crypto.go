package models

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/herald-hq/herald/models/webhook"
)

// Cipher seals stored credentials and signing secrets with AES-256-GCM.
type Cipher struct {
	aead cipher.AEAD
}

// ParseKey reads a 32-byte key given as hex or base64 (standard or URL alphabet, padded or not).
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if b, err := hex.DecodeString(s); err == nil && len(b) == 32 {
		return b, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == 32 {
			return b, nil
		}
	}
	return nil, errors.New("must be 32 bytes, written as 64 hex digits or base64")
}

// NewCipher returns a cipher for a 32-byte key.
func NewCipher(key []byte) (*Cipher, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("new cipher: key is %d bytes, want 32", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("new cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("new cipher: %w", err)
	}
	return &Cipher{aead: aead}, nil
}

// Seal encrypts a secret; the empty secret stays empty.
func (c *Cipher) Seal(s webhook.Secret) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	nonce := make([]byte, c.aead.NonceSize(), c.aead.NonceSize()+len(s)+c.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal secret: %w", err)
	}
	return c.aead.Seal(nonce, nonce, []byte(s), nil), nil
}

// Open decrypts what Seal produced.
func (c *Cipher) Open(b []byte) (webhook.Secret, error) {
	if len(b) == 0 {
		return "", nil
	}
	n := c.aead.NonceSize()
	if len(b) < n {
		return "", errors.New("open secret: ciphertext too short")
	}
	plain, err := c.aead.Open(nil, b[:n], b[n:], nil)
	if err != nil {
		return "", fmt.Errorf("open secret: %w", err)
	}
	return webhook.Secret(plain), nil
}

// LoadOrCreateKeyFile reads the key kept in path, or writes a new random one there (mode 0600).
func LoadOrCreateKeyFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		key, perr := ParseKey(string(b))
		if perr != nil {
			return nil, fmt.Errorf("key file %s: %w", path, perr)
		}
		return key, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create key file: %w", err)
	}
	defer f.Close()
	if _, err := f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n"); err != nil {
		return nil, fmt.Errorf("write key file: %w", err)
	}
	return key, nil
}

// HashToken returns the stored form of an API or integration token.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// NewToken returns a random token with a readable prefix ("hrd_", "hri_").
func NewToken(prefix string) (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("new token: %w", err)
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b), nil
}
