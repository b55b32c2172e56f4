//! Planted secrets for tests and benchmarks: one realistic line of code per built-in rule,
//! with a secret that the rule finds, from a seed (the same seed, the same secrets).

/// Deterministic random text over an alphabet (xorshift).
pub struct Noise(pub u64);

impl Noise {
    /// `n` characters of `alphabet`.
    pub fn text(&mut self, alphabet: &str, n: usize) -> String {
        let a: Vec<char> = alphabet.chars().collect();
        (0..n)
            .map(|_| {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                a[(self.0 % a.len() as u64) as usize]
            })
            .collect()
    }
}

const ALNUM: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const UPPER32: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const B64: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// One planted secret of each built-in rule: `(rule id, line of code, the secret)`.
pub fn planted(seed: u64) -> Vec<(&'static str, String, String)> {
    let mut n = Noise(seed | 1);
    let mut out = Vec::new();
    let mut add = |id: &'static str, line: String, secret: String| out.push((id, line, secret));
    let s = format!("pypi-AgEIcHlwaS5vcmc{}", n.text(ALNUM, 60));
    add("pypi-upload-token", format!("password = \"{s}\""), s);
    let s = format!("AKIA{}", n.text(UPPER32, 16));
    add("aws-access-key-id", format!("aws_access_key_id = '{s}'"), s);
    let s = n.text(B64, 40);
    add("aws-secret-access-key", format!("AWS_SECRET_ACCESS_KEY = \"{s}\""), s);
    let s = format!("ghp_{}", n.text(ALNUM, 36));
    add("github-pat", format!("token = '{s}'"), s);
    let s = format!("github_pat_{}", n.text(ALNUM, 82));
    add("github-fine-grained-pat", format!("GH = \"{s}\""), s);
    let s = format!("gho_{}", n.text(ALNUM, 36));
    add("github-oauth", format!("x = '{s}'"), s);
    let s = format!("ghs_{}", n.text(ALNUM, 36));
    add("github-app-token", format!("x = '{s}'"), s);
    let s = format!("ghr_{}", n.text(ALNUM, 36));
    add("github-refresh-token", format!("x = '{s}'"), s);
    let s = format!("glpat-{}", n.text(ALNUM, 20));
    add("gitlab-pat", format!("GITLAB = \"{s}\""), s);
    let s = format!("xoxb-{}-{}-{}", n.text("0123456789", 12), n.text("0123456789", 12), n.text(ALNUM, 24));
    add("slack-token", format!("slack = '{s}'"), s);
    let s = format!("https://hooks.slack.com/services/T{}/B{}/{}", n.text("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", 9), n.text("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", 10), n.text(ALNUM, 24));
    add("slack-webhook", format!("WEBHOOK = \"{s}\""), s);
    let s = format!("sk_live_{}", n.text(ALNUM, 24));
    add("stripe-key", format!("stripe.api_key = \"{s}\""), s);
    let s = format!("sk-proj-{}T3BlbkFJ{}", n.text(ALNUM, 40), n.text(ALNUM, 40));
    add("openai-api-key", format!("openai.api_key = \"{s}\""), s);
    let s = format!("sk-ant-api03-{}AA", n.text(ALNUM, 93));
    add("anthropic-api-key", format!("client = Anthropic(api_key=\"{s}\")"), s);
    let s = format!("AIza{}", n.text(ALNUM, 35));
    add("google-api-key", format!("GOOGLE_KEY = '{s}'"), s);
    let s = format!("{}==", n.text(B64, 86));
    add("azure-storage-key", format!("conn = \"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={s};EndpointSuffix=core.windows.net\""), s);
    let body: Vec<String> = (0..6).map(|_| n.text(B64, 64)).collect();
    let s = format!("-----BEGIN RSA PRIVATE KEY-----\n{}\n-----END RSA PRIVATE KEY-----", body.join("\n"));
    add("private-key", format!("KEY = \"\"\"{s}\"\"\""), s);
    let s = format!("eyJ{}.eyJ{}.{}", n.text(ALNUM, 30), n.text(ALNUM, 40), n.text(ALNUM, 43));
    add("jwt", format!("headers = {{'Authorization': 'Bearer {s}'}}"), s);
    let s = n.text(ALNUM, 18);
    add("database-url", format!("DATABASE_URL = \"postgresql://app:{s}@db.internal:5432/prod\""), s);
    let s = n.text(ALNUM, 32);
    add("generic-secret", format!("MY_SERVICE_API_KEY = \"{s}\""), s);
    out
}
