# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# dmp_man_pages(pages.N.md...): render with pandoc into man pages and
# install them; dmp_man_alias(page.N alias.N...): install links to a page.
# Without pandoc the pages are skipped, and the configure step says so.
if(NOT PANDOC)
  message(STATUS "pandoc not found: man pages will not be built")
endif()

function(dmp_man_pages)
  if(NOT PANDOC)
    return()
  endif()
  foreach(src ${ARGN})
    string(REGEX REPLACE "\\.md$" "" page ${src})
    string(REGEX REPLACE ".*\\.([0-9])$" "\\1" sect ${page})
    set(out ${CMAKE_CURRENT_BINARY_DIR}/${page})
    add_custom_command(OUTPUT ${out}
      COMMAND ${PANDOC} -f markdown-smart -s -t man ${CMAKE_CURRENT_SOURCE_DIR}/${src} -o ${out}
      DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/${src}
      COMMENT "Rendering man page ${page}")
    string(MAKE_C_IDENTIFIER ${page} tgt)
    add_custom_target(man_${tgt} ALL DEPENDS ${out})
    install(FILES ${out} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${sect})
  endforeach()
endfunction()

function(dmp_man_alias target)
  if(NOT PANDOC)
    return()
  endif()
  string(REGEX REPLACE ".*\\.([0-9])$" "\\1" sect ${target})
  foreach(alias ${ARGN})
    # A symbolic link to the page beside it, installed as a link: what Debian's
    # dh_installman makes of ".so" stubs anyway, and no duplicate files in the
    # RPM (brp-compress and dh_compress point the links at the compressed page).
    set(out ${CMAKE_CURRENT_BINARY_DIR}/${alias})
    file(CREATE_LINK ${target} ${out} SYMBOLIC)
    install(FILES ${out} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${sect})
  endforeach()
endfunction()
