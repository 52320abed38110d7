// Verify a Tessera access token in your API: golang-jwt/jwt/v5 with MicahParks/keyfunc/v3.
// UNTESTED: CI cannot fetch Go modules; the Python and Node versions are tested.
//
// go get github.com/golang-jwt/jwt/v5 github.com/MicahParks/keyfunc/v3
// Try it: echo "$TOKEN" | go run verify.go books:read
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
)

func setting(name, fallback string) string {
	if value, ok := os.LookupEnv(name); ok {
		return value
	}
	return fallback
}

var (
	issuer = setting("TESSERA_ISSUER", "https://auth.example.com")
	// Where your API fetches Tessera's keys (the issuer's, or Tessera's address on your network).
	jwksURL = setting("TESSERA_JWKS_URL", issuer+"/.well-known/jwks.json")
	// Tessera's `audience` setting; for the gateway's internal JWT, your upstream URL.
	audience = setting("API_AUDIENCE", "https://api.example.com")
)

// Verify returns the token's claims, or why it is not valid here.
func Verify(jwks keyfunc.Keyfunc, token string) (jwt.MapClaims, error) {
	claims := jwt.MapClaims{}
	parsed, err := jwt.ParseWithClaims(token, claims, jwks.Keyfunc,
		jwt.WithValidMethods([]string{"ES256", "EdDSA"}), // never "none" or HMAC
		jwt.WithIssuer(issuer),
		jwt.WithAudience(audience),
		jwt.WithExpirationRequired(),
	)
	if err != nil {
		return nil, err
	}
	// RFC 9068 §4: an access token says so in its header.
	if typ, _ := parsed.Header["typ"].(string); !strings.EqualFold(typ, "at+jwt") {
		return nil, errors.New("not an access token (typ must be at+jwt)")
	}
	return claims, nil
}

func HasScope(claims jwt.MapClaims, scope string) bool {
	granted, _ := claims["scope"].(string)
	return slices.Contains(strings.Fields(granted), scope)
}

func main() {
	jwks, err := keyfunc.NewDefault([]string{jwksURL}) // refreshed in the background
	if err != nil {
		fmt.Fprintln(os.Stderr, "fetching the JWKS:", err)
		os.Exit(1)
	}
	input, _ := io.ReadAll(os.Stdin)
	claims, err := Verify(jwks, strings.TrimSpace(string(input)))
	for _, scope := range os.Args[1:] {
		if err == nil && !HasScope(claims, scope) {
			err = fmt.Errorf("the token lacks the scope %s", scope)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "rejected:", err)
		os.Exit(1)
	}
	out, _ := json.Marshal(map[string]any{
		"sub": claims["sub"], "client_id": claims["client_id"], "scope": claims["scope"],
	})
	fmt.Println(string(out))
}
