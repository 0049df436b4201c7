import ConcourseResource
import Foundation
import Logging

LoggingSystem.bootstrap(StreamLogHandler.standardError)
exit(await ResourceMain.run(.out))
