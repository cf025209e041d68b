import p4harness as h

def main():
    pass

if __name__ == "__main__":
    h.run_test(main)
