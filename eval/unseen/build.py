"""Builds the unseen evaluation sets (README.md here) from snapshots of public repositories.

Development-time only: the data is never committed, and CI never runs this. Each source is
fetched first with the tool library's `fetch` (github:owner/name), which leaves a bare git
directory under /work/.mirror/owner+name/; this script reads the files it needs at that
snapshot and writes `<name>.csv` (header `text,label`) next to itself (git-ignored).
Sets of more than 3,000 records are sampled with random.Random(0).

    python3 eval/unseen/build.py [MIRROR_DIR]   # default /work/.mirror
    simtune eval --suite eval/unseen/suite.json --labels 10,25,50,100 --seeds 5 --protocol ...
"""
import collections, csv, gzip, io, os, random, subprocess, sys

MIRROR = sys.argv[1] if len(sys.argv) > 1 else "/work/.mirror"
OUT = os.path.dirname(os.path.abspath(__file__))
CAP = 3000


def git_dir(repo):
    base = os.path.join(MIRROR, repo.replace("/", "+"), "repo")
    return os.path.join(base, ".git") if os.path.isdir(os.path.join(base, ".git")) else base


def show(repo, path):
    return subprocess.run(["git", "--git-dir", git_dir(repo), "show", "HEAD:" + path],
                          capture_output=True, check=True).stdout


def ls(repo, folder):
    return subprocess.run(["git", "--git-dir", git_dir(repo), "ls-tree", "-r", "--name-only", "HEAD", folder],
                          capture_output=True, check=True, text=True).stdout.split()


def head(repo):
    return subprocess.run(["git", "--git-dir", git_dir(repo), "rev-parse", "HEAD"],
                          capture_output=True, check=True, text=True).stdout.strip()


def write(name, repo, commit, rows, cap=CAP):
    got = head(repo)
    if got != commit:
        print(f"warning: {repo} is at {got}, the sets were built at {commit}")
    rows = [(t.replace("\r\n", "\n").replace("\r", "\n").strip(), str(l).strip()) for t, l in rows]
    rows = [(t, l) for t, l in rows if t and l]
    if cap and len(rows) > cap:
        idx = random.Random(0).sample(range(len(rows)), cap)
        rows = [rows[i] for i in sorted(idx)]
    with open(os.path.join(OUT, name + ".csv"), "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["text", "label"])
        w.writerows(rows)
    counts = collections.Counter(l for _, l in rows)
    print(name, len(rows), {k: f"{v / len(rows):.1%}" for k, v in counts.most_common()})


def lines(repo, path, encoding="utf-8"):
    return show(repo, path).decode(encoding).split("\n")


R = "harvardnlp/sent-conv-torch"
names = {"ABBR": "abbreviation", "DESC": "description", "ENTY": "entity", "HUM": "human",
         "LOC": "location", "NUM": "numeric"}
write("trec", R, "d61ded09c99c0199d8c5bca946cd65864de2b296",
      [(q, names[l.split(":")[0]]) for l, q in
       (x.split(" ", 1) for x in lines(R, "data/raw/TREC.test", "latin-1") if x.strip())])
write("rt_polarity", R, "d61ded09c99c0199d8c5bca946cd65864de2b296",
      [(x, lab) for p, lab in [("data/raw/rt-polarity.pos", "positive"), ("data/raw/rt-polarity.neg", "negative")]
       for x in lines(R, p, "latin-1")])

R = "chiuyuwen91/Forecast-stock-price"
write("finphrase_allagree", R, "9d86617a0aa6845ac67a99a99f7f7be3b70366a7",
      [tuple(x.rsplit("@", 1)) for x in lines(R, "data/Sentences_AllAgree.txt", "latin-1") if "@" in x])

R = "niuzaisheng/AttExplainer"
write("emotion", R, "fc8080f783028a0f2f6510175d0cf48a9fb2e3a3",
      [tuple(x.rsplit(";", 1)) for x in lines(R, "data/emotion/test.txt")
       if x.strip() and not x.endswith(";label_name")])

R = "bhargaviparanjape/clickbait"
write("clickbait", R, "203d979a81545ae6160ff45ffdac83e74469c97a",
      [(x, lab) for p, lab in [("dataset/clickbait_data.gz", "clickbait"), ("dataset/non_clickbait_data.gz", "not_clickbait")]
       for x in gzip.decompress(show(R, p)).decode("utf-8").split("\n")])

R = "MiuLab/SlotGated-SLU"
write("snips", R, "61f0307c729b1fad479ef1de94aa5ac5dee601b0",
      list(zip(lines(R, "data/snips/test/seq.in"), lines(R, "data/snips/test/label"), strict=True)))

R = "yao8839836/text_gcn"
groups = {"comp.graphics", "misc.forsale", "rec.autos", "rec.sport.hockey", "sci.med", "sci.space",
          "soc.religion.christian", "talk.politics.mideast"}
rows = []
for p in ls(R, "data/20ng/20news-bydate-test/"):
    if p.split("/")[3] not in groups:
        continue
    header, _, body = show(R, p).decode("latin-1").replace("\r\n", "\n").partition("\n\n")
    # the mail headers name the group: only the subject stays
    subject = next((h[8:].strip() for h in header.split("\n") if h.lower().startswith("subject:")), "")
    rows.append(((subject + "\n\n" + body.strip() if subject else body.strip())[:4000], p.split("/")[3]))
write("newsgroups8", R, "962223652e9bb164ac2d83cd09fc7b8845ce860b", rows)

R = "t-davidson/hate-speech-and-offensive-language"
cls = {"0": "hate_speech", "1": "offensive_language", "2": "neither"}
write("davidson_hate", R, "cb50f7e9eb855a99abc51423bf40df0e26d6fe30",
      [(r["tweet"], cls[r["class"]]) for r in csv.DictReader(io.StringIO(show(R, "data/labeled_data.csv").decode("utf-8")))])

R = "ZizieZ/TBA3102_Labs"
sms = [(r[1], r[0]) for r in csv.reader(io.StringIO(show(R, "data/sms.tsv").decode("utf-8")), delimiter="\t")][1:]
write("sms", R, "7aebb5589c70eb1255598779840a3a7ce28330b7", random.Random(0).sample(sms, 2000), cap=0)

R = "JhD10/DataSet-Espanol"
write("bbc", R, "2219048254491ba54674fd4526812a5c5a0f31d6",
      [(r["text"], r["category"]) for r in csv.DictReader(io.StringIO(show(R, "bbc-text.csv").decode("utf-8")))])
