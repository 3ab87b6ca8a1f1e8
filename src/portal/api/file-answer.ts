/** An API answer that is a file (a CSV report), not JSON: sent with its type and as an attachment. */
export class FileAnswer {
  readonly type: string;
  readonly fileName: string;
  readonly body: string;
  constructor(type: string, fileName: string, body: string) {
    this.type = type;
    this.fileName = fileName;
    this.body = body;
  }
}
