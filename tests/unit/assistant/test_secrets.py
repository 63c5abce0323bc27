"""Credentials are masked before any text reaches a model; ordinary code is left alone."""

from __future__ import annotations

import pytest

from assistant.secrets import is_env_path, mask_bundle, mask_env, mask_secrets
from retrieval.bundle_types import Bundle, BundleUnit

GITHUB = "ghp_" + "A1b2C3d4E5f6G7h8I9j0" * 2
JWT = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ."
       "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c")
PEM = ("-----BEGIN RSA PRIVATE KEY-----\n"
       "MIIEpAIBAAKCAQEA1c7+9z5Pad7OejecsQ0bu3aozN3tihPmljnnudb9G3HECdnH\n"
       "lWu2/a1gB9JW5TBQ+AVpum9Okx7KfqkfBKL9mcHgSL0yWMdjMfNOqNtrQqKlN4kE\n"
       "-----END RSA PRIVATE KEY-----\n")

POSITIVES = [
    # (text, secret that must disappear, kind)
    ('AWS_ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"', "AKIAIOSFODNN7EXAMPLE", "aws_access_key"),
    ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
     "aws_secret_key"),
    (f"export GH={GITHUB}", GITHUB, "github_token"),
    ("token: glpat-xY3kL9mN2pQ7rS1tU5vW", "glpat-xY3kL9mN2pQ7rS1tU5vW", "gitlab_token"),
    ("SLACK = 'xoxb-2417338451-1234567890123-AbCdEfGhIjKlMnOp'", "xoxb-2417338451-1234567890123-AbCdEfGhIjKlMnOp",
     "slack_token"),
    ("stripe.api_key = 'sk_live_4eC39HqLyjWDarjtT1zdp7dc'", "sk_live_4eC39HqLyjWDarjtT1zdp7dc", "stripe_key"),
    ('maps_key = "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY"', "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY",
     "google_api_key"),
    (f"session = '{JWT}'", JWT, "jwt"),
    ('curl -H "Authorization: Bearer 4f9a8c1e2b7d4a6f9e3c5b8a1d2f7e6c"', "4f9a8c1e2b7d4a6f9e3c5b8a1d2f7e6c", "bearer"),
    ('DATABASE_URL = "postgres://app:S3cretPassw0rd@db.internal:5432/app"', "S3cretPassw0rd", "url_password"),
    ('db_password = "hunter2!x"', "hunter2!x", "password_or_token"),
    ('password: str = "correct-horse-battery"', "correct-horse-battery", "password_or_token"),
    ('client.login(username="bob", password="pa55word!")', "pa55word!", "password_or_token"),
    ('{"api_key": "0123456789abcdef0123"}', "0123456789abcdef0123", "password_or_token"),
    ("const clientSecret = `a8f5f167f44f4964e6c998dee827110c`;", "a8f5f167f44f4964e6c998dee827110c",
     "password_or_token"),
    ('Password := "Zx9!kLmN"', "Zx9!kLmN", "password_or_token"),
]


@pytest.mark.parametrize("text,secret,kind", POSITIVES, ids=[k for _, _, k in POSITIVES])
def test_secrets_are_masked(text, secret, kind):
    masked = mask_secrets(text)
    assert secret not in masked.text
    assert masked.count == 1
    assert masked.kinds == (kind,)
    assert f"[MASKED:{kind}]" in masked.text


NEGATIVES = [
    'password = request.form["password"]',
    "token = self.next()",
    'tokenizer = "bert-base-uncased"',
    'if password == "admin123":',
    'max_tokens = "512"',
    'token_type = "bearer"',
    'SECRET_KEY = os.environ["SECRET_KEY"]',
    'password_hash = "pbkdf2:sha256$abc"',
    'print("Enter your password")',
    'headers = {"Authorization": f"Bearer {token}"}',
    'url = "https://user:${PASSWORD}@host/x"',
    'password = ""',
    "self.password = password",
    'kind = "token"',
    'api_key = "<your-api-key>"',
    'secret = "changeme"',
    "def authenticate(token: str, password: str) -> bool:",
    "Bearer tokens are sent in the Authorization header.",
    "The key is AKIA followed by sixteen characters.",
    "http://localhost:8080/path",
]


@pytest.mark.parametrize("text", NEGATIVES)
def test_ordinary_code_is_left_alone(text):
    masked = mask_secrets(text)
    assert (masked.text, masked.count, masked.kinds) == (text, 0, ())


def test_private_key_block_keeps_line_count():
    text = "KEY = '''\n" + PEM + "'''\nnext_line = 1\n"
    masked = mask_secrets(text)
    assert masked.count == 1 and masked.kinds == ("private_key",)
    assert "MIIEpAIBAAKCAQEA" not in masked.text
    assert masked.text.count("\n") == text.count("\n")
    assert masked.text.splitlines()[-1] == "next_line = 1"  # line numbers after it are unchanged
    assert "-----BEGIN RSA PRIVATE KEY-----" in masked.text  # the reader still sees what it was


def test_several_secrets_in_one_text_are_counted():
    text = f'a = "AKIAIOSFODNN7EXAMPLE"\nb = "{GITHUB}"\npassword = "hunter2!x"\nx = 1\n'
    masked = mask_secrets(text)
    assert masked.count == 3
    assert masked.kinds == ("aws_access_key", "github_token", "password_or_token")
    assert masked.text.count("\n") == text.count("\n")


def test_unquoted_values_masked_only_in_configuration_files():
    text = "database:\n  user: app\n  password: Tr0ub4dor&3\n  host: db\n"
    assert mask_secrets(text).count == 0  # in code an unquoted value is an expression
    masked = mask_secrets(text, path="deploy/config.yaml")
    assert masked.count == 1 and "Tr0ub4dor&3" not in masked.text and "user: app" in masked.text


def test_env_files_have_every_value_masked():
    assert is_env_path(".env") and is_env_path("app/.env.production") and is_env_path("prod.env")
    assert not is_env_path("environment.py") and not is_env_path("src/env.py")
    text = "# settings\nDEBUG=true\nNAME=shop\nexport API_URL=https://api.example.com\nEMPTY=\n\nSECRET='x y'\n"
    masked = mask_secrets(text, path="services/.env.local")
    assert masked == mask_env(text)
    assert masked.count == 4
    lines = masked.text.splitlines()
    assert lines[0] == "# settings" and lines[1] == "DEBUG=[MASKED:env_value]"
    assert lines[3] == "export API_URL=[MASKED:env_value]" and lines[4] == "EMPTY="
    assert masked.text.count("\n") == text.count("\n")


def test_mask_bundle_masks_units_and_map_and_keeps_the_original():
    units = [
        BundleUnit(path=".env", start_line=1, end_line=2, symbols=(), kind="lines", reason="matched the query",
                   score=1.0, text="DB_USER=app\nDB_PASS=s3cret\n"),
        BundleUnit(path="app/settings.py", start_line=10, end_line=12, symbols=("settings",), kind="lines",
                   reason="matched the query", score=0.5,
                   text=f'GITHUB_TOKEN = "{GITHUB}"\nDEBUG = False\npassword = request.form["password"]\n'),
        BundleUnit(path="app/views.py", start_line=1, end_line=1, symbols=("view",), kind="function",
                   reason="calls settings", score=0.2, text="def view(): return 1\n"),
    ]
    bundle = Bundle(query="q", snapshot="abc123def456", repo_map="app/settings.py\n  AWS = 'AKIAIOSFODNN7EXAMPLE'\n",
                    units=units)
    masked, count, kinds = mask_bundle(bundle)
    assert count == 4  # two .env values, the token, the key in the map
    assert kinds == ("aws_access_key", "env_value", "github_token")
    rendered = masked.render()
    for secret in ("s3cret", "DB_USER=app", GITHUB, "AKIAIOSFODNN7EXAMPLE"):
        assert secret not in rendered
    assert 'password = request.form["password"]' in rendered
    assert masked.units[2] is units[2]  # untouched units are shared, not copied
    assert bundle.units[1].text.startswith("GITHUB_TOKEN = \"ghp_")  # the caller's bundle is unchanged
    assert [u.location for u in masked.units] == [u.location for u in units]
