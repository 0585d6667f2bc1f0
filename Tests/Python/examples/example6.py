#!/usr/bin/env python
# The tutorial's example6 with its one Python 2 line made valid Python 3: drmaa-python's Version is a
# namedtuple, so  'Version %s' % s.version  raises TypeError under Python 3 whatever the library;
#   print('Version %s' % s.version)  ->  print('Version %s' % (s.version,))

import drmaa

def main():
    """ Query the system. """
    with drmaa.Session() as s:
        print('A DRMAA object was created')
        print('Supported contact strings: %s' % s.contact)
        print('Supported DRM systems: %s' % s.drmsInfo)
        print('Supported DRMAA implementations: %s' % s.drmaaImplementation)
        print('Version %s' % (s.version,))

        print('Exiting')

if __name__=='__main__':
    main()
